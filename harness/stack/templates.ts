import { BreakwaterError } from '../errors.ts';

export interface TemplateContext {
  port?: number;
  link(name: string): string | undefined;
  secret(name: string): string;
}

/**
 * Expands `{{port}}`, `{{link:NAME}}` and `{{secret:NAME}}` in a service's
 * environment. An unknown template is a profile error, not a silent blank.
 */
export function expandTemplate(value: string, ctx: TemplateContext, where: string): string {
  return value.replace(/\{\{\s*([a-z]+)(?::([A-Za-z0-9_.-]+))?\s*\}\}/g, (whole, kind: string, arg?: string) => {
    if (kind === 'port' && ctx.port !== undefined) return String(ctx.port);
    if (kind === 'link' && arg) {
      const addr = ctx.link(arg);
      if (addr) return addr;
      throw new BreakwaterError('BW_PROFILE_INVALID', `${where}: ${whole} names no link; declare it in stack.links`);
    }
    if (kind === 'secret' && arg) return ctx.secret(arg);
    throw new BreakwaterError('BW_PROFILE_INVALID', `${where}: unknown template ${whole}; use {{port}}, {{link:NAME}} or {{secret:NAME}}`);
  });
}
