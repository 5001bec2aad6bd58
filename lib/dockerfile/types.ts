// A Dockerfile as the classic builder reads it: its parser directives, the ARGs before the first FROM, and its
// stages, each a FROM and the instructions after it. Arguments are raw (variables unexpanded): the builder
// expands them step by step (expand.ts), with the variables of that moment.

export interface SourcePos {
  /** 1-based, the instruction's first line. */
  line: number;
  column: number;
}

export interface InstructionBase {
  pos: SourcePos;
  endLine: number;
  /** The instruction as written, continuations joined into one line: what `Step N/M : ...` prints. */
  original: string;
}

export type CommandForm = 'shell' | 'exec';

export interface FromInstruction extends InstructionBase {
  kind: 'FROM';
  image: string;
  /** `AS name`, lower-cased. */
  alias?: string;
  platform?: string;
}

export interface RunInstruction extends InstructionBase {
  kind: 'RUN';
  form: CommandForm;
  /** The shell form: [the command line]; the exec form: the JSON array. */
  args: string[];
}

export interface CmdInstruction extends InstructionBase {
  kind: 'CMD' | 'ENTRYPOINT';
  form: CommandForm;
  args: string[];
}

export interface KeyValueInstruction extends InstructionBase {
  kind: 'ENV' | 'LABEL';
  pairs: Array<{ key: string; value: string }>;
}

export interface ArgInstruction extends InstructionBase {
  kind: 'ARG';
  args: Array<{ name: string; default?: string }>;
}

export interface MaintainerInstruction extends InstructionBase {
  kind: 'MAINTAINER';
  name: string;
}

export interface ListInstruction extends InstructionBase {
  kind: 'EXPOSE' | 'VOLUME';
  values: string[];
}

export interface SingleInstruction extends InstructionBase {
  kind: 'WORKDIR' | 'USER' | 'STOPSIGNAL';
  value: string;
}

export interface CopyInstruction extends InstructionBase {
  kind: 'COPY' | 'ADD';
  sources: string[];
  dest: string;
  from?: string;
  chown?: string;
  chmod?: string;
}

export interface ShellInstruction extends InstructionBase {
  kind: 'SHELL';
  args: string[];
}

/** As docker stores it in the image config: durations in nanoseconds, 0 or absent to inherit. */
export interface HealthcheckConfig {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface HealthcheckInstruction extends InstructionBase {
  kind: 'HEALTHCHECK';
  config: HealthcheckConfig;
}

export interface OnbuildInstruction extends InstructionBase {
  kind: 'ONBUILD';
  /** The trigger as the image config's OnBuild list keeps it: 'RUN echo hi'. */
  trigger: string;
  instruction: Instruction;
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | KeyValueInstruction
  | ArgInstruction
  | MaintainerInstruction
  | ListInstruction
  | SingleInstruction
  | CopyInstruction
  | ShellInstruction
  | HealthcheckInstruction
  | OnbuildInstruction;

export interface Stage {
  index: number;
  /** The alias, lower-cased. */
  name?: string;
  from: FromInstruction;
  /** Every instruction after its FROM. */
  instructions: Instruction[];
}

export type EscapeChar = '\\' | '`';

export interface Dockerfile {
  escape: EscapeChar;
  syntax?: string;
  /** The ARGs before the first FROM: usable in FROM lines, and in a stage that declares them again. */
  globalArgs: ArgInstruction[];
  stages: Stage[];
  /** docker's parse warnings ("Empty continuation line found in: ..."). */
  warnings: string[];
}
