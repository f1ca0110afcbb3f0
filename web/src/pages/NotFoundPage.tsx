import { Page } from '../components/Page.tsx';
import { Link } from '../router.tsx';

export function NotFoundPage() {
  return (
    <Page title="Not found">
      <p>
        There is no page here. <Link to="/">Go to the dashboard</Link>.
      </p>
    </Page>
  );
}
