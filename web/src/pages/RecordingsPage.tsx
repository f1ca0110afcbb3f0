/** The tenant's recordings (made by a dialplan's `record()`), newest first, a page at a time. */
import { useCallback, useState } from 'react';
import { api } from '../api/client.ts';
import type { RecordingPage } from '../api/types.ts';
import { RecordingList } from '../audio/RecordingList.tsx';
import { Empty, ErrorNote, Loading } from '../components/Feedback.tsx';
import { Page, Section } from '../components/Page.tsx';
import { useLoader } from '../useApi.ts';

const PAGE = 50;

export function RecordingsPage() {
  // The pages loaded so far, reloaded together (after a delete) so the list stays in order.
  const [pages, setPages] = useState(1);
  const load = useCallback(async (key: string) => {
    const wanted = Number(key);
    const items: RecordingPage['items'] = [];
    let cursor: string | null = null;
    for (let i = 0; i < wanted; i++) {
      const page: RecordingPage = await api.get<RecordingPage>(`/recordings?limit=${PAGE}${cursor ? `&cursor=${cursor}` : ''}`);
      items.push(...page.items);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    return { items, nextCursor: cursor };
  }, []);
  const list = useLoader<RecordingPage>(String(pages), load);
  return (
    <Page title="Recordings" subtitle="What dialplans recorded with record(), newest first.">
      <Section title="Recordings">
        <ErrorNote error={list.error} />
        {!list.data && list.loading && <Loading what="the recordings" />}
        {list.data?.items.length === 0 && (
          <Empty>
            No recordings yet. A dialplan makes one with <code>await record({'{ maxSeconds: 60 }'})</code>.
          </Empty>
        )}
        {list.data && list.data.items.length > 0 && <RecordingList items={list.data.items} onDeleted={list.reload} />}
        {list.data?.nextCursor && (
          <div className="form-actions">
            <button type="button" className="btn" onClick={() => setPages((n) => n + 1)}>
              Show older recordings
            </button>
          </div>
        )}
      </Section>
    </Page>
  );
}
