import { defineDrill } from '../../harness/drills/types.ts';

/**
 * The backup-and-restore runbook, rehearsed under load: pg_dump of the
 * profile's database, the database dropped 5 s later, restored from the dump.
 * RTO and RPO are judged against the profile's `recovery` objectives, and no
 * write acknowledged before the backup may be missing.
 */
export default defineDrill({
  name: 'backup-restore',
  kind: 'backup-restore',
  description: 'pg_dump under load, the database dropped, restored from the dump: RTO and RPO against the profile\'s recovery objectives, nothing acknowledged before the backup lost.',
  load: { script: 'scenarios/load/chat-mix.ts' },
  disaster: 'drop-database',
  before: '5s',
  between: '5s',
});
