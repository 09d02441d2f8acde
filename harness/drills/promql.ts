import { BreakwaterError } from '../errors.ts';
import { seriesKey, type Labels } from './prom-exposition.ts';
import { pointAt, pointsIn, type Point, type SeriesStore } from './prom-series.ts';

/**
 * The PromQL subset that alert rules of a drill may use, parsed and evaluated
 * over scraped series (prom-series.ts) with Prometheus' semantics:
 *
 * - instant selectors `metric{label="v", l!="v", l=~"re", l!~"re"}` (regexes anchored);
 * - `rate(sel[30s])` and `increase(sel[30s])`, with counter resets and
 *   Prometheus' extrapolation to the window's edges;
 * - `sum(...)` and `sum by (labels) (...)`;
 * - `+ - * /` between scalars and vectors, vector/vector matched one-to-one
 *   on identical label sets (as `sum by` produces them);
 * - `> < >= <= == !=` as filters (no `bool`);
 * - `and` / `or` between vectors (multi-window conditions).
 *
 * Anything else (other functions and aggregations, `offset`, `@`,
 * subqueries, `on`/`ignoring`/`group_left`, `bool`, `unless`, `%`, `^`) is
 * rejected when the rule is read, with a one-line error naming the construct.
 */

export type Matcher = { label: string; op: '=' | '!=' | '=~' | '!~'; value: string; re?: RegExp };

export type Expr =
  | { type: 'number'; value: number }
  | { type: 'selector'; name?: string; matchers: Matcher[]; rangeMs?: number; text: string }
  | { type: 'call'; fn: 'rate' | 'increase'; arg: Extract<Expr, { type: 'selector' }> }
  | { type: 'sum'; by?: string[]; arg: Expr }
  | { type: 'unary'; op: '-' | '+'; arg: Expr }
  | { type: 'binary'; op: BinaryOp; lhs: Expr; rhs: Expr };

export type BinaryOp = '+' | '-' | '*' | '/' | '>' | '<' | '>=' | '<=' | '==' | '!=' | 'and' | 'or';

export interface VectorSample {
  labels: Labels;
  v: number;
}

export type Value = { kind: 'scalar'; v: number } | { kind: 'vector'; samples: VectorSample[] };

/** What the subset covers, for error messages. */
export const PROMQL_SUBSET = 'selectors with = != =~ !~, rate()/increase() over [Ns], sum and sum by (...), + - * /, > < >= <= == !=, and, or';

/** A rule expression that is not valid PromQL, or uses a construct outside the subset. */
export class PromQLError extends BreakwaterError {
  constructor(
    message: string,
    /** The construct outside the subset (`histogram_quantile()`, `offset`...), when that is the problem. */
    readonly unsupported?: string,
  ) {
    super('BW_CONFIG_INVALID', message);
    this.name = 'PromQLError';
  }
}

function unsupported(construct: string): never {
  throw new PromQLError(`${construct} is outside the PromQL subset Breakwater evaluates`, construct);
}

function syntax(pos: number, problem: string): never {
  throw new PromQLError(`PromQL syntax error at column ${pos + 1}: ${problem}`);
}

// ── lexer ────────────────────────────────────────────────────────────────────

type Tok = { kind: 'num' | 'dur' | 'str' | 'ident' | 'op' | 'range' | 'eof'; text: string; pos: number; value?: number };

const OPS = ['==', '!=', '>=', '<=', '=~', '!~', '>', '<', '=', '+', '-', '*', '/', '%', '^', '(', ')', '{', '}', ',', '@'];
const NUMBER = /^(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/;
const IDENT = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
/** Longest expression accepted, a bound on the lexer and parser. */
const MAX_EXPR = 20_000;

function lex(src: string): Tok[] {
  if (src.length > MAX_EXPR) throw new PromQLError(`expression is ${src.length} characters long; the limit is ${MAX_EXPR}`);
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    const rest = src.slice(i);
    if (/^[0-9.]/.test(c) && NUMBER.test(rest)) {
      // A duration outside brackets (`offset 5m`) is lexed whole, so that the parser can name what it belongs to.
      const dur = /^(?:\d+(?:ms|s|m|h|d|w|y))+(?![a-zA-Z0-9_:])/.exec(rest)?.[0];
      if (dur) {
        toks.push({ kind: 'dur', text: dur, pos: i });
        i += dur.length;
        continue;
      }
      const text = NUMBER.exec(rest)![0];
      if (/^[a-zA-Z_]/.test(src.slice(i + text.length))) syntax(i, `"${rest.slice(0, 12)}" is not a number`);
      toks.push({ kind: 'num', text, pos: i, value: Number(text) });
      i += text.length;
      continue;
    }
    if (IDENT.test(rest)) {
      const text = IDENT.exec(rest)![0];
      toks.push({ kind: 'ident', text, pos: i });
      i += text.length;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        const ch = src[i];
        if (ch === undefined || (ch === '\n' && c !== '`')) syntax(start, 'unterminated string');
        if (ch === c) break;
        if (ch === '\\' && c !== '`') {
          const next = src[i + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };
          if (next === undefined || !(next in map)) syntax(i, `unknown escape "\\${next ?? ''}" in a string`);
          value += map[next]!;
          i += 2;
          continue;
        }
        value += ch;
        i++;
      }
      i++;
      toks.push({ kind: 'str', text: value, pos: start });
      continue;
    }
    if (c === '[') {
      const end = src.indexOf(']', i);
      if (end < 0) syntax(i, 'unclosed "["');
      toks.push({ kind: 'range', text: src.slice(i + 1, end).trim(), pos: i });
      i = end + 1;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) syntax(i, `unexpected character "${c}"`);
    toks.push({ kind: 'op', text: op, pos: i });
    i += op.length;
  }
  toks.push({ kind: 'eof', text: '', pos: src.length });
  return toks;
}

// ── durations ────────────────────────────────────────────────────────────────

const DURATION_UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** A Prometheus duration (`30s`, `1m30s`, `500ms`, `0`) in ms, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const re = /(\d+)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let at = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    total += Number(m[1]) * DURATION_UNIT[m[2]!]!;
    at = re.lastIndex;
  }
  return at === text.length && at > 0 ? total : undefined;
}

// ── parser ───────────────────────────────────────────────────────────────────

type Type = 'scalar' | 'vector' | 'matrix';

const AGGREGATIONS = new Set(['sum', 'avg', 'min', 'max', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'limitk', 'limit_ratio']);
const KEYWORDS = new Set(['by', 'without', 'bool', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'and', 'or', 'unless', 'atan2']);
const PRECEDENCE: Record<string, number> = { or: 1, and: 2, unless: 2, '==': 3, '!=': 3, '<=': 3, '<': 3, '>=': 3, '>': 3, '+': 4, '-': 4, '*': 5, '/': 5, '%': 5, atan2: 5, '^': 6 };
const COMPARISONS = new Set(['==', '!=', '<=', '<', '>=', '>']);

class Parser {
  readonly #toks: Tok[];
  #i = 0;
  #depth = 0;

  constructor(readonly src: string) {
    this.#toks = lex(src);
  }

  #peek(offset = 0): Tok {
    return this.#toks[Math.min(this.#i + offset, this.#toks.length - 1)]!;
  }

  #next(): Tok {
    const t = this.#peek();
    if (this.#i < this.#toks.length - 1) this.#i++;
    return t;
  }

  #isOp(text: string, tok = this.#peek()): boolean {
    return tok.kind === 'op' && tok.text === text;
  }

  #expectOp(text: string): Tok {
    const t = this.#next();
    if (!this.#isOp(text, t)) syntax(t.pos, `expected "${text}", found ${describe(t)}`);
    return t;
  }

  parse(): { expr: Expr; type: Type } {
    const r = this.#expr(0);
    const t = this.#peek();
    if (t.kind !== 'eof') syntax(t.pos, `unexpected ${describe(t)}`);
    if (r.type === 'matrix') syntax(0, 'a range vector cannot be an alert expression; wrap it in rate() or increase()');
    return r;
  }

  #binaryOp(): string | undefined {
    const t = this.#peek();
    if (t.kind === 'op' && t.text in PRECEDENCE) return t.text;
    if (t.kind === 'ident' && ['and', 'or', 'unless', 'atan2'].includes(t.text.toLowerCase())) return t.text.toLowerCase();
    return undefined;
  }

  #expr(minPrec: number): { expr: Expr; type: Type } {
    this.#enter();
    let lhs = this.#unary();
    for (;;) {
      const op = this.#binaryOp();
      if (!op || PRECEDENCE[op]! < minPrec) break;
      const opTok = this.#next();
      if (op === 'unless' || op === '%' || op === '^' || op === 'atan2') unsupported(`the "${op}" operator`);
      const mod = this.#peek();
      if (mod.kind === 'ident') {
        const m = mod.text.toLowerCase();
        if (m === 'bool') unsupported('the bool modifier');
        if (m === 'on' || m === 'ignoring') unsupported(`${m}(...) vector matching`);
        if (m === 'group_left' || m === 'group_right') unsupported(`${m} vector matching`);
      }
      const rhs = this.#expr(PRECEDENCE[op]! + 1);
      lhs = this.#combine(op as BinaryOp, lhs, rhs, opTok.pos);
    }
    this.#depth--;
    return lhs;
  }

  #combine(op: BinaryOp, lhs: { expr: Expr; type: Type }, rhs: { expr: Expr; type: Type }, pos: number): { expr: Expr; type: Type } {
    if (lhs.type === 'matrix' || rhs.type === 'matrix') syntax(pos, `a range vector cannot be an operand of "${op}"; wrap it in rate() or increase()`);
    const expr: Expr = { type: 'binary', op, lhs: lhs.expr, rhs: rhs.expr };
    if (op === 'and' || op === 'or') {
      if (lhs.type !== 'vector' || rhs.type !== 'vector') syntax(pos, `"${op}" needs an instant vector on both sides`);
      return { expr, type: 'vector' };
    }
    if (COMPARISONS.has(op) && lhs.type === 'scalar' && rhs.type === 'scalar') syntax(pos, `comparisons between scalars need the bool modifier, which is outside the subset`);
    return { expr, type: lhs.type === 'scalar' && rhs.type === 'scalar' ? 'scalar' : 'vector' };
  }

  /** Bounds the recursion: a hostile expression gets a one-line error, not a stack overflow. */
  #enter(): void {
    if (++this.#depth > 200) syntax(this.#peek().pos, 'expression nested more than 200 levels deep');
  }

  #unary(): { expr: Expr; type: Type } {
    const t = this.#peek();
    if (this.#isOp('-', t) || this.#isOp('+', t)) {
      this.#next();
      this.#enter();
      // Unary minus binds tighter than every binary operator but "^" (outside the subset anyway).
      const arg = this.#unary();
      this.#depth--;
      if (arg.type === 'matrix') syntax(t.pos, 'a range vector cannot be negated');
      return { expr: { type: 'unary', op: t.text as '-' | '+', arg: arg.expr }, type: arg.type };
    }
    return this.#postfix(this.#primary());
  }

  /** Modifiers that may follow any primary: all outside the subset. */
  #postfix(r: { expr: Expr; type: Type }): { expr: Expr; type: Type } {
    const t = this.#peek();
    if (t.kind === 'ident' && t.text.toLowerCase() === 'offset') unsupported('the offset modifier');
    if (this.#isOp('@', t)) unsupported('the @ modifier');
    if (t.kind === 'range') {
      if (t.text.includes(':')) unsupported(`the subquery [${t.text}]`);
      syntax(t.pos, `a range [${t.text}] can only follow a metric selector`);
    }
    return r;
  }

  #primary(): { expr: Expr; type: Type } {
    const t = this.#next();
    switch (t.kind) {
      case 'num':
        return { expr: { type: 'number', value: t.value! }, type: 'scalar' };
      case 'str':
        unsupported('string literals');
      case 'dur':
        syntax(t.pos, `${t.text} is a duration; durations belong in a range like [${t.text}]`);
      case 'eof':
        syntax(t.pos, 'unexpected end of expression');
      case 'range':
        syntax(t.pos, `unexpected range [${t.text}]`);
      case 'op':
        if (t.text === '(') {
          const inner = this.#expr(0);
          this.#expectOp(')');
          return inner;
        }
        if (t.text === '{') return this.#selector(undefined, t.pos);
        syntax(t.pos, `unexpected "${t.text}"`);
      case 'ident': {
        const lower = t.text.toLowerCase();
        const next = this.#peek();
        if (AGGREGATIONS.has(lower) && (this.#isOp('(', next) || (next.kind === 'ident' && ['by', 'without'].includes(next.text.toLowerCase())))) return this.#aggregation(t);
        if (this.#isOp('(', next)) return this.#call(t);
        if (lower === 'inf' || lower === 'nan') return { expr: { type: 'number', value: lower === 'inf' ? Infinity : NaN }, type: 'scalar' };
        if (KEYWORDS.has(lower)) syntax(t.pos, `unexpected keyword "${t.text}"`);
        return this.#selector(t.text, t.pos);
      }
    }
  }

  #selector(name: string | undefined, pos: number): { expr: Expr; type: Type } {
    const matchers: Matcher[] = name ? [{ label: '__name__', op: '=', value: name }] : [];
    if (name ? this.#isOp('{') : true) {
      if (name) this.#next();
      for (let n = 0; ; n++) {
        if (n > 100) syntax(pos, 'more than 100 label matchers');
        if (this.#isOp('}')) {
          this.#next();
          break;
        }
        const label = this.#next();
        if (label.kind === 'str') unsupported('quoted label names');
        if (label.kind !== 'ident') syntax(label.pos, `expected a label name, found ${describe(label)}`);
        const opTok = this.#next();
        if (opTok.kind !== 'op' || !['=', '!=', '=~', '!~'].includes(opTok.text)) syntax(opTok.pos, `expected one of = != =~ !~ after label ${label.text}, found ${describe(opTok)}`);
        const value = this.#next();
        if (value.kind !== 'str') syntax(value.pos, `expected a quoted value for label ${label.text}, found ${describe(value)}`);
        const m: Matcher = { label: label.text, op: opTok.text as Matcher['op'], value: value.text };
        if (m.op === '=~' || m.op === '!~') {
          try {
            m.re = new RegExp(`^(?:${m.value})$`);
          } catch {
            syntax(value.pos, `invalid regular expression "${m.value}"`);
          }
        }
        matchers.push(m);
        if (this.#isOp(',')) this.#next();
        else if (!this.#isOp('}')) syntax(this.#peek().pos, `expected "," or "}" after the matcher on ${label.text}`);
      }
    }
    if (!matchers.some((m) => !matches(m, ''))) syntax(pos, 'a selector needs at least one matcher that does not match the empty string');
    const text = this.src.slice(pos, this.#peek().pos).trim();
    const r = this.#peek();
    if (r.kind === 'range') {
      this.#next();
      if (r.text.includes(':')) unsupported(`the subquery [${r.text}]`);
      const rangeMs = parseDuration(r.text);
      if (!rangeMs) syntax(r.pos, `[${r.text}] is not a positive duration like [30s] or [5m]`);
      return { expr: { type: 'selector', name, matchers, rangeMs, text: `${text}[${r.text}]` }, type: 'matrix' };
    }
    return { expr: { type: 'selector', name, matchers, text }, type: 'vector' };
  }

  #call(fn: Tok): { expr: Expr; type: Type } {
    const name = fn.text;
    if (name !== 'rate' && name !== 'increase') unsupported(`the ${name}() function`);
    this.#expectOp('(');
    const arg = this.#expr(0);
    if (this.#isOp(',')) syntax(this.#peek().pos, `${name}() takes one argument`);
    this.#expectOp(')');
    if (arg.type !== 'matrix' || arg.expr.type !== 'selector') syntax(fn.pos, `${name}() needs a range selector like metric[30s]`);
    return { expr: { type: 'call', fn: name, arg: arg.expr }, type: 'vector' };
  }

  #aggregation(agg: Tok): { expr: Expr; type: Type } {
    const lower = agg.text.toLowerCase();
    if (lower !== 'sum') unsupported(`the ${lower} aggregation`);
    let by = this.#grouping();
    this.#expectOp('(');
    const arg = this.#expr(0);
    if (this.#isOp(',')) syntax(this.#peek().pos, 'sum takes one argument');
    this.#expectOp(')');
    const after = this.#grouping();
    if (after) {
      if (by) syntax(agg.pos, 'sum has two grouping clauses');
      by = after;
    }
    if (arg.type !== 'vector') syntax(agg.pos, `sum needs an instant vector, got a ${arg.type === 'scalar' ? 'scalar' : 'range vector (wrap it in rate())'}`);
    return { expr: { type: 'sum', ...(by ? { by } : {}), arg: arg.expr }, type: 'vector' };
  }

  #grouping(): string[] | undefined {
    const t = this.#peek();
    if (t.kind !== 'ident') return undefined;
    const kw = t.text.toLowerCase();
    if (kw === 'without') unsupported('sum without (...)');
    if (kw !== 'by') return undefined;
    this.#next();
    this.#expectOp('(');
    const labels: string[] = [];
    for (let n = 0; !this.#isOp(')'); n++) {
      if (n > 100) syntax(t.pos, 'more than 100 grouping labels');
      const l = this.#next();
      if (l.kind !== 'ident') syntax(l.pos, `expected a label name in by (...), found ${describe(l)}`);
      labels.push(l.text);
      if (this.#isOp(',')) this.#next();
      else if (!this.#isOp(')')) syntax(this.#peek().pos, 'expected "," or ")" in by (...)');
    }
    this.#next();
    return labels;
  }
}

function describe(t: Tok): string {
  if (t.kind === 'eof') return 'the end of the expression';
  if (t.kind === 'range') return `[${t.text}]`;
  if (t.kind === 'str') return `the string "${t.text}"`;
  return `"${t.text}"`;
}

/**
 * Parses a rule expression. Throws a PromQLError (one line) for invalid
 * PromQL, and for valid PromQL outside the subset with `unsupported` naming
 * the construct.
 */
export function parsePromQL(src: string): Expr {
  return new Parser(src).parse().expr;
}

/** The ranges of every range selector in the expression (ms), e.g. the windows of a multi-window rule. */
export function rangesOf(e: Expr): number[] {
  switch (e.type) {
    case 'number':
      return [];
    case 'selector':
      return e.rangeMs ? [e.rangeMs] : [];
    case 'call':
      return rangesOf(e.arg);
    case 'sum':
    case 'unary':
      return rangesOf(e.arg);
    case 'binary':
      return [...rangesOf(e.lhs), ...rangesOf(e.rhs)];
  }
}

// ── evaluation ───────────────────────────────────────────────────────────────

function matches(m: Matcher, value: string): boolean {
  switch (m.op) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return m.re!.test(value);
    case '!~':
      return !m.re!.test(value);
  }
}

function selects(matchers: Matcher[]): (labels: Labels) => boolean {
  return (labels) => matchers.every((m) => matches(m, labels[m.label] ?? ''));
}

function withoutName(labels: Labels): Labels {
  const { __name__: _, ...rest } = labels;
  return rest;
}

/**
 * The increase of a counter over (from, to], as Prometheus computes it: the
 * sum of the rises between the points (a drop is a counter reset, after which
 * the new value counts in full), extrapolated towards the window's edges when
 * the first and last points are close to them (never below zero at the start).
 * Undefined with fewer than two points.
 */
export function extrapolatedIncrease(points: Point[], from: number, to: number): number | undefined {
  if (points.length < 2) return undefined;
  const first = points[0]!;
  const last = points.at(-1)!;
  let delta = last.v - first.v;
  for (let i = 1; i < points.length; i++) if (points[i]!.v < points[i - 1]!.v) delta += points[i - 1]!.v;
  const sampled = last.t - first.t;
  if (sampled <= 0) return undefined;
  const average = sampled / (points.length - 1);
  let toStart = first.t - from;
  const toEnd = to - last.t;
  if (delta > 0 && first.v >= 0) {
    // A counter cannot have been below zero: do not extrapolate past the moment it would have been 0.
    const toZero = sampled * (first.v / delta);
    if (toZero < toStart) toStart = toZero;
  }
  const threshold = average * 1.1;
  let interval = sampled;
  interval += toStart < threshold ? toStart : average / 2;
  interval += toEnd < threshold ? toEnd : average / 2;
  return delta * (interval / sampled);
}

function vector(samples: VectorSample[]): Value {
  return { kind: 'vector', samples };
}

function apply(op: BinaryOp, a: number, b: number): number | boolean {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    case '>':
      return a > b;
    case '<':
      return a < b;
    case '>=':
      return a >= b;
    case '<=':
      return a <= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    default:
      throw new PromQLError(`operator ${op} does not apply to numbers`);
  }
}

/** Arithmetic results must not hold two samples with the same labels (Prometheus refuses them too). */
function uniqueLabels(samples: VectorSample[], op: string): VectorSample[] {
  const seen = new Set<string>();
  for (const s of samples) {
    const k = seriesKey(undefined, s.labels);
    if (seen.has(k)) throw new PromQLError(`"${op}" produced two samples with the labels ${k}; aggregate with sum by (...) first`);
    seen.add(k);
  }
  return samples;
}

function binary(op: BinaryOp, l: Value, r: Value): Value {
  const comparison = COMPARISONS.has(op);
  if (op === 'and' || op === 'or') {
    const lv = (l as Extract<Value, { kind: 'vector' }>).samples;
    const rv = (r as Extract<Value, { kind: 'vector' }>).samples;
    const rightKeys = new Set(rv.map((s) => seriesKey(undefined, s.labels)));
    if (op === 'and') return vector(lv.filter((s) => rightKeys.has(seriesKey(undefined, s.labels))));
    const leftKeys = new Set(lv.map((s) => seriesKey(undefined, s.labels)));
    return vector([...lv, ...rv.filter((s) => !leftKeys.has(seriesKey(undefined, s.labels)))]);
  }
  if (l.kind === 'scalar' && r.kind === 'scalar') return { kind: 'scalar', v: apply(op, l.v, r.v) as number };
  if (l.kind === 'vector' && r.kind === 'scalar') {
    if (comparison) return vector(l.samples.filter((s) => apply(op, s.v, r.v)));
    return vector(uniqueLabels(l.samples.map((s) => ({ labels: withoutName(s.labels), v: apply(op, s.v, r.v) as number })), op));
  }
  if (l.kind === 'scalar' && r.kind === 'vector') {
    if (comparison) return vector(r.samples.filter((s) => apply(op, l.v, s.v)));
    return vector(uniqueLabels(r.samples.map((s) => ({ labels: withoutName(s.labels), v: apply(op, l.v, s.v) as number })), op));
  }
  // Vector to vector: one-to-one on the label sets without the metric name.
  const lv = (l as Extract<Value, { kind: 'vector' }>).samples;
  const rv = (r as Extract<Value, { kind: 'vector' }>).samples;
  const right = new Map<string, VectorSample>();
  for (const s of rv) {
    const k = seriesKey(undefined, s.labels);
    if (right.has(k)) throw new PromQLError(`the right side of "${op}" holds two series with the labels ${k}; aggregate with sum by (...) so that they match one-to-one`);
    right.set(k, s);
  }
  const usedLeft = new Set<string>();
  const out: VectorSample[] = [];
  for (const s of lv) {
    const k = seriesKey(undefined, s.labels);
    const match = right.get(k);
    if (!match) continue;
    if (usedLeft.has(k)) throw new PromQLError(`the left side of "${op}" holds two series with the labels ${k}; aggregate with sum by (...) so that they match one-to-one`);
    usedLeft.add(k);
    const v = apply(op, s.v, match.v);
    if (comparison) {
      if (v) out.push(s);
    } else out.push({ labels: withoutName(s.labels), v: v as number });
  }
  return vector(out);
}

/**
 * Evaluates an expression at time t over the store. An instant selector
 * reads the latest scrape at or before t (a series absent from it, or a failed
 * scrape, is stale); rate() and increase() read the points in (t - range, t].
 * Throws a PromQLError when the data break one-to-one matching.
 */
export function evaluate(e: Expr, store: SeriesStore, t: number): Value {
  switch (e.type) {
    case 'number':
      return { kind: 'scalar', v: e.value };
    case 'selector': {
      const scrape = store.scrapeAt(t);
      if (!scrape) return vector([]);
      const out: VectorSample[] = [];
      for (const s of store.select(selects(e.matchers))) {
        const p = pointAt(s, scrape.t);
        if (p) out.push({ labels: s.labels, v: p.v });
      }
      return vector(out);
    }
    case 'call': {
      const range = e.arg.rangeMs!;
      const out: VectorSample[] = [];
      for (const s of store.select(selects(e.arg.matchers))) {
        const inc = extrapolatedIncrease(pointsIn(s, t - range, t), t - range, t);
        if (inc === undefined) continue;
        out.push({ labels: withoutName(s.labels), v: e.fn === 'rate' ? inc / (range / 1000) : inc });
      }
      return vector(out);
    }
    case 'sum': {
      const arg = evaluate(e.arg, store, t) as Extract<Value, { kind: 'vector' }>;
      const groups = new Map<string, VectorSample>();
      for (const s of arg.samples) {
        const labels: Labels = {};
        for (const l of e.by ?? []) if (s.labels[l]) labels[l] = s.labels[l]!;
        const k = seriesKey(undefined, labels);
        const g = groups.get(k);
        if (g) g.v += s.v;
        else groups.set(k, { labels, v: s.v });
      }
      return vector([...groups.values()]);
    }
    case 'unary': {
      const arg = evaluate(e.arg, store, t);
      if (e.op === '+') return arg;
      if (arg.kind === 'scalar') return { kind: 'scalar', v: -arg.v };
      return vector(uniqueLabels(arg.samples.map((s) => ({ labels: withoutName(s.labels), v: -s.v })), '-'));
    }
    case 'binary':
      return binary(e.op, evaluate(e.lhs, store, t), evaluate(e.rhs, store, t));
  }
}
