// `distminer init --from-lotus-miner`: the reader of lotus-miner's repository (a LevelDB written
// here with the keys and encodings lotus-miner v1.36 uses) and the adoption's refusals. The
// adoption of a repository that the real lotus-miner made and used, and mining with it, is in
// test/lotus/migrate.test.ts.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { ADOPTED_LOG_ENTRIES, LIBP2P_KEY_FILE, readAdoptedSectors, peerIdOfKeyInfo, readLotusMinerRepo, reservationsFrom } from '../../src/config/lotus-miner-repo.js';
import { NOT_ON_CHAIN } from '../../src/api/lotus-miner.js';
import { addressBytes } from '../../src/chain/address.js';
import { rleEncode } from '../../src/chain/bitfield.js';
import { cborEncode } from '../../src/chain/cbor.js';
import { CborCid } from '../../src/chain/cid.js';
import { bigToCborBytes } from '../../src/chain/encoding.js';
import { lockFile } from '../../src/util/durable.js';
import { Auth, JWT_KEY_FILE } from '../../src/auth/index.js';
import { MAIN } from '../helpers/procs.js';

const work = mkdtempSync(join(tmpdir(), 'distminer-lotus-repo-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

/** The real devnet t01000's libp2p key (lotus-miner init made it) and its PeerId as the chain holds it. */
const DEVNET_LIBP2P_KEY = '{"Type":"libp2p-host","PrivateKey":"CAESQNY9iwbPFJkGV0QXMwPk0hVUhKc/r4CMy8sPJRGKd0ag0FN7pUQXfvwl33zB0DHmwJTYlEtICOS4Ims63ifs5ZA="}';
const DEVNET_PEER_ID = '12D3KooWPqaoWcswqvgxSkXEV4qNF22jFSTGG3T71AeopqV7uFK5';
/** A KeyInfo of another key type: no peer id is derived from it. */
const LIBP2P_KEYINFO = JSON.stringify({ Type: 'libp2p-host', PrivateKey: '' });
const bitfield = (ns: number[]) => cborEncode(rleEncode(ns));
const uvarint = (n: number) => {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return Buffer.from(out);
};
const sector = (n: number, state: string, extra: Record<string, unknown> = {}) => cborEncode({ State: state, SectorNumber: n, SectorType: 5, CommR: null, UpdateSealed: null, Pieces: [], ...extra });

interface Fixture {
  repo: string;
  storage: string;
}

/** A lotus-miner repository as v1.36 leaves it: config, storage.json, keystore, token, metadata LevelDB. */
async function lotusRepo(name: string, entries: [string, Buffer][]): Promise<Fixture> {
  const repo = join(work, name);
  const storage = join(work, `${name}-storage`);
  mkdirSync(join(repo, 'keystore'), { recursive: true, mode: 0o700 });
  mkdirSync(storage, { recursive: true });
  writeFileSync(join(repo, 'config.toml'), '[API]\n  #ListenAddress = "/ip4/127.0.0.1/tcp/2345/http"\n\n[Fees]\n  #MaxWindowPoStGasFee = "5 FIL"\n');
  // As lotus-miner init leaves it: the repository itself is the first storage path (seal only
  // here), the big store after it.
  writeFileSync(join(repo, 'storage.json'), JSON.stringify({ StoragePaths: [{ Path: repo }, { Path: storage }] }, null, 2));
  writeFileSync(join(repo, 'sectorstore.json'), JSON.stringify({ ID: '5e0d2f6b-8a3c-4c1e-9d1a-2f7c3b9e4a10', Weight: 10, CanSeal: true, CanStore: false }));
  writeFileSync(join(storage, 'sectorstore.json'), JSON.stringify({ ID: 'b1b4a104-a15b-44e4-a438-09d908112a38', Weight: 10, CanSeal: true, CanStore: true, MaxStorage: 0, Groups: null }));
  writeFileSync(join(repo, 'keystore', JWT_KEY_FILE), JSON.stringify({ Type: 'jwt-hmac-secret', PrivateKey: Buffer.alloc(32, 7).toString('base64') }), { mode: 0o600 });
  writeFileSync(join(repo, 'keystore', LIBP2P_KEY_FILE), DEVNET_LIBP2P_KEY, { mode: 0o600 });
  writeFileSync(join(repo, 'token'), new Auth(Buffer.alloc(32, 7)).issue('admin'), { mode: 0o600 });
  const db = new ClassicLevel<string, Buffer>(join(repo, 'datastore', 'metadata'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  await db.open();
  for (const [k, v] of entries) await db.put(k, v);
  await db.close();
  return { repo, storage };
}

const BASE: [string, Buffer][] = [
  ['/miner-address', addressBytes('t01234')],
  ['/storage/sectorsids/allocated', bitfield([0, 1, 2, 3, 4, 7])],
  ['/storage/sectorsids/reserved', bitfield([5, 100, 101, 102])],
  ['/storage/sectorsids/reserved/old', bitfield([5])],
  ['/storage/sectorsids/reserved/snap', bitfield([100, 101, 102])],
  ['/storage/nextid', uvarint(7)],
  ['/slashfilter/epoch/t01234/88', Buffer.from([1])],
  ['/slashfilter/epoch/t01234/120', Buffer.from([1])],
  ['/slashfilter/epoch/t09999/500', Buffer.from([1])],
  ['/slashfilter/parents/t01234/abcd', Buffer.from([1])],
];

test('reads what lotus-miner keeps: miner, sector numbers and reservations, sector records, storage paths, keys, slash filter', async (t) => {
  const f = await lotusRepo('full', [
    ...BASE,
    [
      '/sectors/0',
      sector(0, 'Proving', {
        SectorType: 8,
        Pieces: [{ Piece: [2048, new CborCid({ '/': 'baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq' })] }, { Piece: [2048, null], DealInfo: { DealID: 0 } }],
      }),
    ],
    ['/sectors/3', sector(3, 'PreCommit1')],
    ['/sectors/4', sector(4, 'Removed')],
    ['/sectors/5', sector(5, 'FaultedFinal')],
    ['/sectors/6', sector(6, 'ReplicaUpdateWait')],
    ['/sectors/7', sector(7, 'Proving', { UpdateSealed: new CborCid({ '/': 'bagboea4b5abcatlxechwbp7kjpjguna6r6q7ejrhe6mdp3lf34pmswn27pkkiekz' }) })],
  ]);
  const r = await readLotusMinerRepo(f.repo);
  t.is(r.minerId, 'f01234');
  t.deepEqual(r.storagePaths, [
    { path: f.repo, id: '5e0d2f6b-8a3c-4c1e-9d1a-2f7c3b9e4a10', canSeal: true, canStore: false },
    { path: f.storage, id: 'b1b4a104-a15b-44e4-a438-09d908112a38', canSeal: true, canStore: true },
  ]);
  t.is(r.peerId, DEVNET_PEER_ID);
  t.truthy(r.token);
  t.deepEqual(r.numbers.allocated, [
    [0, 4],
    [7, 7],
  ]);
  t.deepEqual(r.numbers.named, { old: [[5, 5]], snap: [[100, 102]] });
  t.is(r.numbers.lastCounter, 7);
  t.is(r.numbers.next, 8, 'one above every number handed out (allocated, the old counter, sector records)');
  t.deepEqual(
    r.sectors.map((s) => [s.number, s.state, s.kind, s.upgraded]),
    [
      [0, 'Proving', 'proving', false],
      [3, 'PreCommit1', 'sealing', false],
      [4, 'Removed', 'done', false],
      [5, 'FaultedFinal', 'faulty', false],
      [6, 'ReplicaUpdateWait', 'upgrading', false],
      [7, 'Proving', 'proving', true],
    ],
  );
  t.deepEqual(r.sectors[0].deals, [0], 'deal id 0 (a genesis deal) is a deal');
  t.is(r.sectors[0].sealProof, 8);
  t.is(r.lastMinedEpoch, 120, "the highest epoch of this miner in the slash filter; another miner's entries are not its");
  t.deepEqual(Object.keys(r.keystore).sort(), [JWT_KEY_FILE, LIBP2P_KEY_FILE].sort());
  t.true(r.configText.includes('[Fees]'));
  // Reservations below distminer's counter are behind it anyway; only the rest is kept.
  t.deepEqual(reservationsFrom(r.numbers.named, r.numbers.next), { snap: [[100, 102]] });
  t.deepEqual(
    reservationsFrom(
      {
        a: [
          [3, 9],
          [20, 20],
        ],
      },
      8,
    ),
    {
      a: [
        [8, 9],
        [20, 20],
      ],
    },
  );
  // lotus-miner's `reserve --force` lets reservations overlap; distminer's may not: an earlier name keeps the numbers.
  t.deepEqual(reservationsFrom({ b: [[10, 30]], a: [[15, 20]], c: [[16, 17]] }, 0), {
    a: [[15, 20]],
    b: [
      [10, 14],
      [21, 30],
    ],
  });
});

test("sector records become what lotus-miner's own SectorsStatus answers: deal info only where lotus-miner counts it valid, bytes in base64, the last 50 log entries", async (t) => {
  const commD = new CborCid({ '/': 'baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq' });
  const commR = new CborCid({ '/': 'bagboea4b5abcatlxechwbp7kjpjguna6r6q7ejrhe6mdp3lf34pmswn27pkkiekz' });
  const publish = new CborCid({ '/': 'bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4' });
  const proposal = [commD, 2048, false, addressBytes('t01001'), addressBytes('t01000'), 'my data', 10, 600, bigToCborBytes(0n), bigToCborBytes(5n), bigToCborBytes(0n)];
  const log = Array.from({ length: 60 }, (_, i) => ({ Kind: 'event;sealing.SectorStart', Timestamp: 1_700_000_000 + i, Trace: '', Message: `step ${i}` }));
  const f = await lotusRepo('status', [
    ...BASE,
    // As lotus-miner init --genesis-miner writes a pre-sealed sector: a deal proposal but no publish CID (not valid: no deal info, deal id 0).
    [
      '/sectors/0',
      sector(0, 'Proving', {
        CommD: commD,
        CommR: commR,
        TicketValue: new Uint8Array(0),
        Pieces: [{ Piece: [2048, commD], DealInfo: { DealID: 0, DealProposal: proposal, DealSchedule: { StartEpoch: 10, EndEpoch: 600 }, PublishCid: null } }],
      }),
    ],
    // A published deal, a ticket and seed, messages, a failure count and a long log.
    [
      '/sectors/2',
      sector(2, 'Proving', {
        CommD: commD,
        CommR: commR,
        TicketValue: Buffer.from([1, 2, 3]),
        TicketEpoch: 40,
        SeedValue: Buffer.from([4]),
        SeedEpoch: 90,
        PreCommitMessage: publish,
        CommitMessage: publish,
        InvalidProofs: 2,
        LastErr: 'once failed',
        Log: log,
        Pieces: [{ Piece: [2048, commD], DealInfo: { PublishCid: publish, DealID: 7, DealProposal: proposal, DealSchedule: { StartEpoch: 10, EndEpoch: 600 }, KeepUnsealed: true } }],
      }),
    ],
    // A deal whose label is bytes (allowed since nv17): its deal info is not carried over, the rest is.
    [
      '/sectors/4',
      sector(4, 'Proving', {
        CommR: commR,
        Pieces: [
          {
            Piece: [2048, commD],
            DealInfo: { PublishCid: publish, DealID: 8, DealProposal: proposal.map((x, i) => (i === 5 ? Buffer.from('bytes') : x)), DealSchedule: { StartEpoch: 10, EndEpoch: 600 } },
          },
        ],
      }),
    ],
  ]);
  const records = join(work, 'status-records.ndjson');
  const r = await readLotusMinerRepo(f.repo, { records, network: 'testnet' });
  const lines = readFileSync(records, 'utf8').split('\n').filter(Boolean);
  t.is(lines.length, 3, 'one line per record');
  const at = (n: number) => {
    const loc = r.sectors.find((x) => x.number === n)!.record!;
    return JSON.parse(
      readFileSync(records)
        .subarray(loc.offset, loc.offset + loc.length)
        .toString('utf8'),
    );
  };
  const [genesis, dealt, bytesLabel] = [at(0), at(2), at(4)];
  t.deepEqual(genesis, {
    SectorID: 0,
    State: 'Proving',
    CommD: commD.cid,
    CommR: commR.cid,
    Proof: null,
    Deals: [0],
    Pieces: [{ Piece: { Size: 2048, PieceCID: commD.cid }, DealInfo: null }],
    Ticket: { Value: null, Epoch: 0 },
    Seed: { Value: null, Epoch: 0 },
    PreCommitMsg: null,
    CommitMsg: null,
    Retries: 0,
    ToUpgrade: false,
    ReplicaUpdateMessage: null,
    LastErr: '',
    Log: [],
    SealProof: 5,
    ...NOT_ON_CHAIN,
  });
  t.like(dealt, { Deals: [7], Ticket: { Value: 'AQID', Epoch: 40 }, Seed: { Value: 'BA==', Epoch: 90 }, PreCommitMsg: publish.cid, CommitMsg: publish.cid, Retries: 2, LastErr: 'once failed' });
  t.deepEqual(dealt!.Pieces[0]!.DealInfo, {
    PublishCid: publish.cid,
    DealID: 7,
    DealProposal: {
      PieceCID: commD.cid,
      PieceSize: 2048,
      VerifiedDeal: false,
      Client: 't01001',
      Provider: 't01000',
      Label: 'my data',
      StartEpoch: 10,
      EndEpoch: 600,
      StoragePricePerEpoch: '0',
      ProviderCollateral: '5',
      ClientCollateral: '0',
    },
    DealSchedule: { StartEpoch: 10, EndEpoch: 600 },
    PieceActivationManifest: null,
    KeepUnsealed: true,
  });
  t.is(dealt!.Log.length, ADOPTED_LOG_ENTRIES);
  t.like(dealt!.Log[0], { Timestamp: 1_700_000_000, Message: 'step 0' }, "the first entry (the sector's start)");
  t.deepEqual(dealt!.Log.at(-1), { Kind: 'event;sealing.SectorStart', Timestamp: 1_700_000_059, Trace: '', Message: 'step 59' }, 'and the latest');
  t.like(dealt!.Log[1], { Message: 'step 11' });
  t.like(bytesLabel, { SectorID: 4, CommR: commR.cid, Deals: [0], Pieces: [{ Piece: { Size: 2048, PieceCID: commD.cid }, DealInfo: null }] });
  t.is(r.recordWarnings.length, 1);
  t.regex(r.recordWarnings[0]!, /^sector 4 piece 0: its deal info is not carried over \(.*Label/);
});

test("the libp2p key's peer id is the one the chain holds for the miner", (t) => {
  // The devnet t01000's key (lotus-miner init made it; `lotus state miner-info t01000` printed its PeerID).
  t.is(peerIdOfKeyInfo(Buffer.from(DEVNET_LIBP2P_KEY)), DEVNET_PEER_ID);
  t.is(peerIdOfKeyInfo(Buffer.from(LIBP2P_KEYINFO)), undefined, 'not an Ed25519 key: no peer id, no guess');
});

test('a running lotus-miner (it holds the LevelDB LOCK), a half-made repository and a corrupt record are refused', async (t) => {
  const f = await lotusRepo('running', BASE);
  const lock = lockFile(join(f.repo, 'datastore', 'metadata', 'LOCK'), 'a test standing in for lotus-miner');
  try {
    await t.throwsAsync(readLotusMinerRepo(f.repo), { message: /lotus-miner is running on .*LOCK/ });
  } finally {
    lock.release();
  }
  t.is((await readLotusMinerRepo(f.repo)).minerId, 'f01234', 'readable once it stopped');

  await t.throwsAsync(readLotusMinerRepo(join(work, 'nowhere')), { message: /is not a lotus-miner repository/ });
  const half = await lotusRepo('half', BASE.slice(1));
  await t.throwsAsync(readLotusMinerRepo(half.repo), { message: /no \/miner-address/ });
  const bad = await lotusRepo('bad', [...BASE, ['/sectors/9', Buffer.from([0xa1, 0x65])]]);
  await t.throwsAsync(readLotusMinerRepo(bad.repo), { message: /\/sectors\/9 is not CBOR/ });
});

/** `distminer init …` as an operator runs it: exit status and output. */
function init(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [MAIN, 'init', ...args], { encoding: 'utf8', env: { ...process.env, DISTMINER_LOG_LEVEL: 'warn' } });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('init --from-lotus-miner: refuses sectors still sealing (unless --abandon-sealing), proven sectors without files, and the repository itself as --repo', async (t) => {
  const f = await lotusRepo('adopt', [...BASE, ['/sectors/3', sector(3, 'PreCommit2')]]);
  const dest = join(work, 'adopt-dm');
  const stale = join(work, '.adopt-dm.init-999999999-dead');
  mkdirSync(stale);
  let r = init('--from-lotus-miner', f.repo, '--repo', dest);
  t.is(r.status, 1);
  t.regex(r.out, /still sealing sectors 3 \(PreCommit2\)[\s\S]*--abandon-sealing/);
  t.false(existsSync(dest), 'nothing created');
  r = init('--from-lotus-miner', f.repo, '--repo', f.repo, '--abandon-sealing');
  t.is(r.status, 1);
  t.regex(r.out, /--repo is the lotus-miner repository itself/);

  r = init('--from-lotus-miner', f.repo, '--repo', dest, '--abandon-sealing', '--miner', 't01234', '--api', '/ip4/127.0.0.1/tcp/23456/http');
  t.is(r.status, 0, r.out);
  t.regex(r.out, /abandoned: +3 \(PreCommit2\)/);
  const cfg = readFileSync(join(dest, 'config.toml'), 'utf8');
  t.false(existsSync(stale), 'a staging directory left by a killed init (its pid gone) is removed');
  for (const [file, mode] of [
    [JWT_KEY_FILE, 0o600],
    [LIBP2P_KEY_FILE, 0o600],
    ['../token', 0o600],
    ['', 0o700],
  ] as const) {
    const p = join(dest, 'keystore', file);
    t.is(statSync(p).mode & 0o777, mode, p);
    if (file && file !== '../token') t.is(readFileSync(p, 'utf8'), readFileSync(join(f.repo, 'keystore', file), 'utf8'), `${file}: lotus-miner's`);
  }
  t.is(readFileSync(join(dest, 'token'), 'utf8'), readFileSync(join(f.repo, 'token'), 'utf8'), "lotus-miner's token");
  t.regex(r.out, new RegExp(`peer id ${DEVNET_PEER_ID}`));
  t.true(
    cfg.startsWith('[API]\n  ListenAddress = "/ip4/127.0.0.1/tcp/23456/http"\n\n[Fees]\n  #MaxWindowPoStGasFee'),
    `lotus-miner's config is kept, --api in place of its commented-out default:\n${cfg}`,
  );
  t.regex(cfg, new RegExp(`\\[Distminer\\]\\n  Miner = "t01234"\\n  StoragePaths = \\["${f.storage}","${f.repo}"\\]`), "the store first, lotus-miner's own repository last");
  t.is(readFileSync(join(dest, 'keystore', JWT_KEY_FILE), 'utf8'), readFileSync(join(f.repo, 'keystore', JWT_KEY_FILE), 'utf8'), "the API secret: lotus-miner's tokens keep working");
  t.is(readFileSync(join(dest, 'sectorid'), 'utf8').trim(), '8');
  t.deepEqual(JSON.parse(readFileSync(join(dest, 'sectorid.reservations.json'), 'utf8')).reservations, { snap: [[100, 102]] });
  t.deepEqual(JSON.parse(readFileSync(join(dest, 'winning-post', 'last-mined.json'), 'utf8')), { miner: 't01234', lastMinedEpoch: 120 });
  const adopted = readAdoptedSectors(dest)!;
  t.is(adopted.from, f.repo);
  t.deepEqual(adopted.sectors, [{ number: 3, state: 'Removed' }], 'the abandoned sector is Removed');
  t.like(adopted.read(3), { SectorID: 3, State: 'Removed', LastErr: 'abandoned in PreCommit2 when distminer adopted this miner (its number stays used)' });
  t.is(adopted.read(4), undefined);
  t.regex(r.out, /sector records: +1 in lotus-miner-sectors.ndjson/);
  t.deepEqual(
    readdirSync(work).filter((x) => x.includes('.tmp')),
    [],
    'no records file left beside the repository',
  );
  // The numbers as the sector-number commands see them.
  const info = JSON.parse(execFileSync(process.execPath, [MAIN, 'sectors', 'numbers', 'info', '--json', '--repo', dest, '--miner', 't01234'], { encoding: 'utf8' }));
  t.is(info.next, 8);
  t.false(existsSync(join(f.repo, 'sectorid')), 'nothing written into the lotus-miner repository');

  r = init('--from-lotus-miner', f.repo, '--repo', dest, '--abandon-sealing');
  t.is(r.status, 1, 'a second adoption into the same directory is refused');
  t.regex(r.out, /exists and is not an empty directory/);

  const gone = await lotusRepo('gone', [...BASE, ['/sectors/2', sector(2, 'Proving')]]);
  r = init('--from-lotus-miner', gone.repo, '--repo', join(work, 'gone-dm'));
  t.is(r.status, 1);
  t.regex(r.out, /proven sectors whose files are not readable[\s\S]*2: no sealed file s-t01234-2/);
  const snap = await lotusRepo('snap', [...BASE, ['/sectors/2', sector(2, 'Proving', { UpdateSealed: new CborCid({ '/': 'bagboea4b5abcatlxechwbp7kjpjguna6r6q7ejrhe6mdp3lf34pmswn27pkkiekz' }) })]]);
  r = init('--from-lotus-miner', snap.repo, '--repo', join(work, 'snap-dm'));
  t.is(r.status, 1);
  t.regex(r.out, /sectors 2 \(Proving\) are upgraded or being upgraded with snap deals/);
  const upgrading = await lotusRepo('upgrading', [...BASE, ['/sectors/2', sector(2, 'ReplicaUpdateWait')]]);
  r = init('--from-lotus-miner', upgrading.repo, '--repo', join(work, 'upgrading-dm'), '--abandon-sealing');
  t.is(r.status, 1, 'an upgrade whose message may be in flight is not "sealing" to abandon');
  t.regex(r.out, /sectors 2 \(ReplicaUpdateWait\) are upgraded or being upgraded/);
  const ni = await lotusRepo('ni', [...BASE, ['/sectors/2', sector(2, 'Proving', { SectorType: 15 })]]);
  r = init('--from-lotus-miner', ni.repo, '--repo', join(work, 'ni-dm'));
  t.is(r.status, 1);
  t.regex(r.out, /2 \(seal proof type 15\)/);
  // A faulty sector whose file is gone is already known to the chain: reported, not a refusal.
  const faulty = await lotusRepo('faulty', [...BASE, ['/sectors/2', sector(2, 'FaultedFinal')], ['/sectors/3', sector(3, 'TerminateWait')]]);
  r = init('--from-lotus-miner', faulty.repo, '--repo', join(work, 'faulty-dm'));
  t.is(r.status, 0, r.out);
  t.regex(r.out, /faulty: +2 \(FaultedFinal\); files not readable for 2/);
  t.regex(r.out, /terminating: +3 \(TerminateWait\)/);
});

test('init --repo on a copied lotus-miner repository points to --from-lotus-miner instead of adopting half of it', async (t) => {
  const f = await lotusRepo('inplace', BASE);
  const r = init('--miner', 't01234', '--repo', f.repo);
  t.is(r.status, 1);
  t.regex(r.out, /is a lotus-miner repository[\s\S]*--from-lotus-miner/);
  t.false(readFileSync(join(f.repo, 'config.toml'), 'utf8').includes('[Distminer]'));
});

test("the keystore file names are lotus-miner's (base32 of the key names)", (t) => {
  const b32 = (s: string) => {
    const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    let bits = '';
    for (const c of Buffer.from(s)) bits += c.toString(2).padStart(8, '0');
    return (bits.match(/.{1,5}/g) ?? []).map((g) => A[parseInt(g.padEnd(5, '0'), 2)]).join('');
  };
  t.is(JWT_KEY_FILE, b32('auth-jwt-private'));
  t.is(LIBP2P_KEY_FILE, b32('libp2p-host'));
});
