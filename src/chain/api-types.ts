// The Lotus full-node API's JSON shapes, field names as Lotus writes them: tipsets, block
// headers, messages and receipts, miner info, power, deadlines, partitions, sectors, mining base
// info and block templates. CIDs are {@link Cid}, big integers decimal strings, bytes base64,
// bitfields go-bitfield run lengths.
import type { BitfieldJson } from './bitfield.js';
import type { Cid } from './cid.js';
import type { BigIntString } from './encoding.js';

export type ChainEpoch = number;
export type TipSetKey = Cid[];

export interface Signature {
  /** 1 = secp256k1, 2 = BLS. */
  Type: number;
  Data: string;
}

export interface Ticket {
  VRFProof: string;
}

export interface ElectionProof {
  WinCount: number;
  VRFProof: string;
}

export interface BeaconEntry {
  Round: number;
  Data: string;
}

export interface PoStProofJson {
  PoStProof: number;
  ProofBytes: string;
}

export interface BlockHeader {
  Miner: string;
  Ticket: Ticket | null;
  ElectionProof: ElectionProof | null;
  BeaconEntries: BeaconEntry[];
  WinPoStProof: PoStProofJson[];
  Parents: TipSetKey;
  ParentWeight: BigIntString;
  Height: ChainEpoch;
  ParentStateRoot: Cid;
  ParentMessageReceipts: Cid;
  Messages: Cid;
  BLSAggregate: Signature | null;
  Timestamp: number;
  BlockSig: Signature | null;
  ForkSignaling: number;
  ParentBaseFee: BigIntString;
}

export interface TipSet {
  Cids: TipSetKey;
  Blocks: BlockHeader[];
  Height: ChainEpoch;
}

export interface HeadChange {
  Type: 'current' | 'apply' | 'revert';
  Val: TipSet;
}

export interface Message {
  Version: number;
  To: string;
  From: string;
  Nonce: number;
  Value: BigIntString;
  GasLimit: number;
  GasFeeCap: BigIntString;
  GasPremium: BigIntString;
  Method: number;
  Params: string | null;
  CID?: Cid;
}

export interface SignedMessage {
  Message: Message;
  Signature: Signature;
  CID?: Cid;
}

export interface MessageSendSpec {
  MaxFee?: BigIntString;
  MsgUuid?: string;
  /** Lotus: set the fee cap to the largest the MaxFee allows (lotus-miner's MaximizeWindowPoStFeeCap). */
  MaximizeFeeCap?: boolean;
}

export interface MessageReceipt {
  ExitCode: number;
  Return: string | null;
  GasUsed: number;
  EventsRoot: Cid | null;
}

export interface MsgLookup {
  Message: Cid;
  Receipt: MessageReceipt;
  ReturnDec: unknown;
  TipSet: TipSetKey;
  Height: ChainEpoch;
}

export interface MinerInfo {
  Owner: string;
  Worker: string;
  NewWorker: string;
  ControlAddresses: string[];
  WorkerChangeEpoch: ChainEpoch;
  PeerId: string | null;
  Multiaddrs: string[] | null;
  WindowPoStProofType: number;
  SectorSize: number;
  WindowPoStPartitionSectors: number;
  ConsensusFaultElapsed: ChainEpoch;
  PendingOwnerAddress: string | null;
  Beneficiary: string;
  BeneficiaryTerm: { Quota: BigIntString; UsedQuota: BigIntString; Expiration: ChainEpoch };
  PendingBeneficiaryTerm: unknown;
}

export interface PowerClaim {
  RawBytePower: BigIntString;
  QualityAdjPower: BigIntString;
}

export interface MinerPower {
  MinerPower: PowerClaim;
  TotalPower: PowerClaim;
  HasMinPower: boolean;
}

export interface DeadlineJson {
  PostSubmissions: BitfieldJson;
  DisputableProofCount: number;
  DailyFee?: BigIntString;
}

export interface PartitionJson {
  AllSectors: BitfieldJson;
  FaultySectors: BitfieldJson;
  RecoveringSectors: BitfieldJson;
  LiveSectors: BitfieldJson;
  ActiveSectors: BitfieldJson;
}

export interface SectorOnChainInfo {
  SectorNumber: number;
  SealProof: number;
  SealedCID: Cid;
  /** Lotus v1.36 names it DeprecatedDealIDs (builtin-actors no longer fills it for new sectors); older nodes and the devnet DealIDs. */
  DeprecatedDealIDs?: number[] | null;
  DealIDs?: number[] | null;
  Activation: ChainEpoch;
  Expiration: ChainEpoch;
  DealWeight: BigIntString;
  VerifiedDealWeight: BigIntString;
  InitialPledge: BigIntString;
  ExpectedDayReward: BigIntString;
  ExpectedStoragePledge: BigIntString;
  PowerBaseEpoch: ChainEpoch;
  ReplacedDayReward: BigIntString;
  SectorKeyCID: Cid | null;
  Flags: number;
}

export interface SectorPreCommitInfo {
  SealProof: number;
  SectorNumber: number;
  SealedCID: Cid;
  SealRandEpoch: ChainEpoch;
  DealIDs: number[] | null;
  Expiration: ChainEpoch;
  UnsealedCid: Cid | null;
}

export interface SectorPreCommitOnChainInfo {
  Info: SectorPreCommitInfo;
  PreCommitDeposit: BigIntString;
  PreCommitEpoch: ChainEpoch;
}

export interface SectorLocation {
  Deadline: number;
  Partition: number;
}

export interface ExtendedSectorInfo {
  SealProof: number;
  SectorNumber: number;
  SectorKey: Cid | null;
  SealedCID: Cid;
}

export interface MiningBaseInfo {
  MinerPower: BigIntString;
  NetworkPower: BigIntString;
  Sectors: ExtendedSectorInfo[];
  WorkerKey: string;
  SectorSize: number;
  PrevBeaconEntry: BeaconEntry;
  BeaconEntries: BeaconEntry[];
  EligibleForMining: boolean;
}

export interface BlockTemplate {
  Miner: string;
  Parents: TipSetKey;
  Ticket: Ticket;
  Eproof: ElectionProof;
  BeaconValues: BeaconEntry[];
  Messages: SignedMessage[] | null;
  Epoch: ChainEpoch;
  Timestamp: number;
  WinningPoStProof: PoStProofJson[];
}

export interface BlockMsg {
  Header: BlockHeader;
  BlsMessages: Cid[];
  SecpkMessages: Cid[];
}

export interface APIVersion {
  Version: string;
  APIVersion: number;
  BlockDelay: number;
  /** The node's user agent (Lotus: "lotus"); absent from older nodes. */
  Agent?: string;
}

/** Lotus KeyType of WalletNew. */
export type KeyType = 'bls' | 'secp256k1';
