import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import { BreakwaterError, EXIT, oneLine } from '../errors.ts';
import { INTERRUPT_EXIT, interruptController, runCommand, type Interrupts } from './run-command.ts';
import { doctorCommand } from './doctor-command.ts';
import { setupCommand } from './setup-command.ts';
import { replayCommand } from './replay-command.ts';
import { startCommand } from './start-command.ts';
import { keygenCommand } from './keygen-command.ts';
import { verifyCommand } from './verify-command.ts';
import { mergeCommand } from './merge-command.ts';
import { gateCommand } from './gate-command.ts';
import { sealedCommand } from './sealed-command.ts';
import { checkProfileCommand } from './check-profile-command.ts';
import { watchSealedParent } from '../safety/sealed-network.ts';

/** `--network`: local runs are sealed unless told otherwise. */
const networkOption = () =>
  new Option('--network <mode>', 'local stack: sealed (a loopback-only network namespace, default) or host (then SSRF cases naming non-loopback addresses are skipped)').choices(['sealed', 'host']);

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

/** Builds the `breakwater` program. Exported for tests. */
export function program(intr: Interrupts): Command {
  const cli = new Command('breakwater')
    .description('Chaos and boundary regression harness: attacks a stack, writes evidence, gates releases.')
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: () => {} });

  const common = (cmd: Command) => cmd.option('-c, --config <file>', 'project config', 'breakwater.config.ts');

  common(
    cli
      .command('run')
      .description('start the stack, run a tier, write <out>/run.json and signed <out>/evidence.dsse.json')
      .addOption(new Option('-t, --tier <tier>', 'which tier').choices(['pr', 'nightly', 'drill']).default('pr'))
      .option('-o, --out <dir>', 'output directory (default reports/<run-id>)')
      .option('--json', 'print a JSON summary on stdout')
      .option('-s, --suite <glob...>', 'only suite files whose path contains this')
      .option('--scenario <name...>', 'only these chaos scenarios')
      .option('--drill <name...>', 'only these drills (drill tier)')
      .addOption(new Option('-p, --provider <provider>', 'how the stack is started').choices(['local', 'compose', 'attach']))
      .option('--attach <url>', 'run against an already running stack (implies --provider attach)')
      .addOption(new Option('--fail-on <severity>', 'lowest severity that blocks').choices(['critical', 'high', 'medium', 'low']).default('high'))
      .option('--seed <n>', 'fast-check seed', positiveInt)
      .option('-k, --key <file>', 'private ed25519 key that signs the evidence (default BREAKWATER_SIGNING_KEY_FILE, BREAKWATER_SIGNING_KEY, else an untrusted development key)')
      .addOption(networkOption()),
  ).action(async (opts) => runCommand(opts, intr));

  common(
    cli
      .command('replay')
      .description('re-run exactly the failing case of a recorded finding against a fresh stack')
      .argument('<finding-id>', 'id (or a unique prefix of 6+ characters) from run.json')
      .requiredOption('-r, --run <dir>', 'output dir (or run.json) of the run that found it')
      .option('-o, --out <dir>', 'output directory for the replay run')
      .option('--json', 'print a JSON summary on stdout')
      .addOption(networkOption()),
  ).action(async (id, opts) => replayCommand(id, opts, intr));

  common(
    cli
      .command('check-profile')
      .description('dry-run the profile on a fresh stack: seed, log every principal in, create every resource, join every room, call each egress endpoint once; one line per mistake (exit 2), never a finding'),
  ).action(async (opts) => checkProfileCommand(opts, intr));

  cli
    .command('sealed')
    .description('run a command in a network namespace whose only interface is loopback (what local runs use); exit with its code')
    .argument('<command...>', 'the command and its arguments (put -- before options meant for it)')
    .passThroughOptions()
    .action(async (command: string[]) => sealedCommand(command));

  cli
    .command('keygen')
    .description('write an ed25519 signing key pair: signing-key.pem (private, 0600) and signing-key.pub.pem')
    .option('-o, --out <dir>', 'directory for the key pair', '.breakwater/keys')
    .option('--force', 'replace an existing key pair')
    .action(async (opts) => keygenCommand(opts));

  cli
    .command('verify')
    .description('verify signed evidence (envelope, signature, schema, subject); prints one line, exit 0 verified, 1 not')
    .argument('<evidence>', 'evidence.dsse.json (or test-result.dsse.json)')
    .requiredOption('-k, --key <pub...>', 'trusted public key(s) (SPKI PEM)')
    .option('--commit <sha>', 'the commit the evidence must be about')
    .action(async (file, opts) => verifyCommand(file, opts));

  cli
    .command('merge')
    .description('verify the evidence of several shards of one run, combine it and sign the result')
    .argument('<evidence...>', 'evidence.dsse.json of each shard')
    .requiredOption('-k, --key <pub...>', 'trusted public key(s) the shards were signed with')
    .requiredOption('-o, --out <file>', 'where to write the merged evidence')
    .option('--sign-key <file>', 'private key that signs the merged evidence (default as for run)')
    .action(async (files, opts) => mergeCommand(files, opts));

  cli
    .command('gate')
    .description('decide whether a change may ship: verify the evidence, apply the stage policy and waivers, score the rubric; exit 0 promote, 1 blocked')
    .addOption(new Option('--stage <stage>', 'which gate').choices(['pr', 'nightly', 'release']).makeOptionMandatory())
    .requiredOption('-e, --evidence <files...>', 'evidence.dsse.json of each required tier')
    .option('--policy <file>', 'gate policy (defineGatePolicy)', 'gate.policy.ts')
    .requiredOption('-k, --key <pub...>', 'trusted public key(s) (SPKI PEM)')
    .option('--commit <sha>', 'the commit the evidence must be about')
    .option('--waivers <file>', 'waivers (YAML or JSON)')
    .option('--history <dir>', "past runs' evidence, for flake rates and the smoke no-go")
    .option('--json', 'print the decision as JSON')
    .addOption(new Option('--now <iso>', "the gate's clock (tests)").hideHelp())
    .action(async (opts) => gateCommand(opts));

  cli
    .command('doctor')
    .description('list the tools the harness uses, their versions and paths')
    .option('--json', 'print JSON')
    .action(async (opts) => doctorCommand(opts));

  cli
    .command('setup')
    .description('install whatever is missing (Postgres, Redis, toxiproxy-server, k6), idempotently')
    .action(async () => setupCommand());

  common(
    cli
      .command('start')
      .description('quick start: set up what is missing, run the PR tier against the reference stack, print the verdict')
      .option('-o, --out <dir>', 'output directory'),
  ).action(async (opts) => startCommand(opts, intr));

  return cli;
}

/** Runs the CLI and returns the exit code. Never throws; errors become one line on stderr. */
export async function main(argv: string[], boot: { early?: NodeJS.Signals[]; stopEarly?: () => void } = {}): Promise<number> {
  // From here on this controller owns SIGINT/SIGTERM; signals caught while loading are replayed into it.
  const intr = interruptController(boot.early);
  boot.stopEarly?.();
  const cli = program(intr);
  // In a sealed child: stop like on SIGTERM if the process that started it is killed.
  const unwatch = watchSealedParent();
  let code: number = EXIT.pass;
  try {
    await cli.parseAsync(argv);
    code = (cli as Command & { exitCodeFromAction?: number }).exitCodeFromAction ?? Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.pass;
      process.stderr.write(`${pc.red('breakwater:')} ${err.message.replace(/^error: /, '')} (see breakwater --help)\n`);
      return EXIT.usage;
    }
    if (intr.received()) {
      process.stderr.write('breakwater: interrupted; nothing was left behind\n');
      return INTERRUPT_EXIT[intr.received()!]!;
    }
    if (err instanceof BreakwaterError) {
      process.stderr.write(`${pc.red('breakwater:')} ${err.message} [${err.code}]\n`);
      return err.exitCode;
    }
    process.stderr.write(`${pc.red('breakwater:')} internal error: ${oneLine(err)}; please report it with the command you ran\n`);
    if (process.env.BREAKWATER_DEBUG) console.error(err);
    return EXIT.infra;
  } finally {
    unwatch();
    intr.dispose();
  }
  return code;
}
