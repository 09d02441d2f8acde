/**
 * Breakwater's public API: what profiles, configs and suites may import.
 * Everything else under harness/ is internal.
 */
export { defineTarget } from './config/target.ts';
export type {
  TargetProfile,
  StackDefinition,
  ServiceDefinition,
  LinkDefinition,
  PrincipalDefinition,
  PrincipalInfo,
  Credentials,
  ResourceDefinition,
  ResourceInstance,
  RouteDefinition,
  Operation,
  DenyOracle,
  RealtimeDefinition,
  RealtimeRoom,
  RealtimeEvent,
  EgressEndpoint,
  SloDefinition,
  Severity,
  SeedContext,
  LoginContext,
} from './config/target.ts';
export { defineConfig, type BreakwaterConfig, type Tier, type TierPlan } from './config/config.ts';
export { defineScenario, type ScenarioDefinition, type Fault, type FaultStep, type Span } from './config/scenario.ts';
export { loadConfig, resolveConfig, type ResolvedConfig } from './config/load-config.ts';
export { resolveTarget } from './config/resolve-target.ts';
export { BreakwaterError, EXIT, type ErrorCode } from './errors.ts';
export { defineGatePolicy, type GatePolicy, type StagePolicy, type GateStage } from './gate/policy.ts';
export type { Duration } from './gate/freshness.ts';
export type { Waiver } from './gate/waivers.ts';
export { startStack } from './stack/start-stack.ts';
export type { StartedStack, StoppedStack, StackInfo, ProcessControl, StartedLink, ProviderName } from './stack/types.ts';
export type { ToxicSpec, ToxicType } from './stack/toxiproxy.ts';
export { runTier, type RunOptions } from './run/run-tier.ts';
export type { RunResult, Finding, Measurement, CheckResult, Verdict } from './run/result.ts';
export { runScenario, type ScenarioJournal, type ScenarioOutcome } from './run/scenario-runner.ts';
export { useTarget, fillPath, authHeaders, describeFindings, type TargetContext, type HttpExchange, type Judged } from './suite/use-target.ts';
export { classifyResponse, classifyError, type Outcome, type OutcomeVerdict } from './suite/outcome.ts';
