import type { ArtifactWriter } from '../run/artifacts.ts';

/** Signs the run result as an in-toto Statement in a DSSE envelope (being built: see the signed evidence issue). */
export const evidenceWriter: ArtifactWriter = {
  name: 'evidence',
  async write() {
    return {};
  },
};
