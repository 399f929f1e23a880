// Numbers fixed by the FVM and builtin-actors that distminer sends or reads: the randomness
// domain separation tags, the miner and power actors' method numbers, the power actor's id and
// the exit codes Lotus reports in receipts.

/** go-state-types crypto.DomainSeparationTag. */
export enum DomainSeparationTag {
  TicketProduction = 1,
  ElectionProofProduction = 2,
  WinningPoStChallengeSeed = 3,
  WindowedPoStChallengeSeed = 4,
  SealRandomness = 5,
  InteractiveSealChallengeSeed = 6,
  WindowedPoStDeadlineAssignment = 7,
  MarketDealCronSeed = 8,
  PoStChainCommit = 9,
}

/** Miner actor method numbers (builtin-actors `miner::Method`). */
export enum MinerMethod {
  SubmitWindowedPoSt = 5,
  PreCommitSector = 6,
  ProveCommitSector = 7,
  DeclareFaults = 10,
  DeclareFaultsRecovered = 11,
  /** Removed at network version 27 (FIP-0101); the actors answer exit code 22. */
  ProveCommitAggregate = 26,
  PreCommitSectorBatch2 = 28,
  /** The prove-commit of network version 23 on (FIP-0084 removed method 7): proofs + piece manifests. */
  ProveCommitSectors3 = 34,
}

/** Storage power actor (f04) method numbers (builtin-actors `power::Method`). */
export enum PowerMethod {
  CreateMiner = 2,
}

/** The storage power actor's ID (f04). */
export const POWER_ACTOR_ID = 4;

/** FVM / actor exit codes as Lotus reports them in receipts (go-state-types exitcode). */
export enum ExitCode {
  Ok = 0,
  SysErrSenderInvalid = 1,
  SysErrSenderStateInvalid = 2,
  SysErrInvalidReceiver = 5,
  SysErrInsufficientFunds = 6,
  SysErrOutOfGas = 7,
  ErrIllegalArgument = 16,
  ErrNotFound = 17,
  ErrForbidden = 18,
  ErrInsufficientFunds = 19,
  ErrIllegalState = 20,
  ErrSerialization = 21,
  ErrUnhandledMessage = 22,
}
