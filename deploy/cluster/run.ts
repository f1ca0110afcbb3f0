/**
 * `npm run cluster`: a local cluster to try, on loopback — Kamailio on 5060 in front of three nodes
 * (SIP 5071-5073, portals 8081-8083), Redis on 6390, and the database `sipswitch_cluster` on the
 * MariaDB that MYSQL_URL names (default root@127.0.0.1:3306). Ctrl-C stops everything it started.
 * CLUSTER_NODES picks another number of nodes, CLUSTER_DIR where data and logs go.
 */
import path from 'node:path';
import { startLocalCluster } from './localCluster.ts';

const count = Number(process.env.CLUSTER_NODES ?? 3);
if (!Number.isInteger(count) || count < 1 || count > 9) throw new Error('CLUSTER_NODES must be 1 to 9');
const dir = path.resolve(process.env.CLUSTER_DIR ?? 'data/cluster');
const server = new URL(process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test');
server.pathname = '/sipswitch_cluster';

console.log(`starting Redis, ${count} nodes and Kamailio (data and logs in ${dir}) …`);
const cluster = await startLocalCluster({
  dir,
  databaseUrl: server.toString(),
  ports: { frontDoor: 5060, redis: 6390, nodes: Array.from({ length: count }, (_, i) => ({ sip: 5071 + i, http: 8081 + i })) },
  env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
});
console.log(`
cluster up:
  phones register and call at   sip:USER@127.0.0.1:5060 (UDP or TCP), through Kamailio
${cluster.nodes.map((n) => `  ${n.id}: SIP 127.0.0.1:${n.sipPort}, portal ${n.httpUrl}, pid ${n.pid}, log ${n.logFile}`).join('\n')}
  Redis ${cluster.redisUrl}; Kamailio pid ${cluster.kamailioPid}, log ${path.join(dir, 'kamailio.log')}
  sign up in any portal: every node serves the same accounts. Kill a node (kill -9 PID) and watch
  Kamailio take it out (kamcmd -s unix:${path.join(dir, 'kamailio_ctl')} dispatcher.list).
Ctrl-C stops the cluster.`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log('stopping …');
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
