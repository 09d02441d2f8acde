/** JSON-schema fragments shared by the HTTP routes, so every id is validated the same way. */

const uuid = { type: 'string', format: 'uuid' } as const;

/** Builds a params schema in which every named path parameter is a UUID. */
export function idParams<const K extends string>(...names: K[]) {
  return {
    type: 'object',
    additionalProperties: false,
    required: names,
    properties: Object.fromEntries(names.map((n) => [n, uuid])) as Record<K, typeof uuid>,
  } as const;
}

/** Path parameters of a tenant-scoped route. */
export interface TenantParams {
  tid: string;
}

/** Path parameters of a channel-scoped route. */
export interface ChannelParams extends TenantParams {
  cid: string;
}
