/** A path into a JSON value: object keys and array indexes. */
export type Path = Array<string | number>;

/** The value at `path`, or undefined when the path leaves the value. */
export function valueAt(root: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined), root);
}

/** Every string leaf of `value`, with its path. */
export function stringLeaves(value: unknown, path: Path = []): Array<{ path: Path; value: string }> {
  if (typeof value === 'string') return [{ path, value }];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => stringLeaves(v, [...path, Array.isArray(value) ? Number(k) : k]));
}
