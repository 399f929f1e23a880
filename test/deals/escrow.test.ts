// The client's AddBalance (src/deals/escrow.ts) as a node receives it: the unit test of how the
// message is built and signed, against a node double that checks the signature with the
// address's own key. Real Lotus accepting it (secp256k1 and BLS) is test/lotus/market.test.ts.
import test from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChainClient } from '../../src/chain/client.js';
import { messageCid } from '../../src/chain/crypto.js';
import { formatFil, parseFil } from '../../src/chain/fees.js';
import { addressFromBytes } from '../../src/chain/address.js';
import type { Message } from '../../src/chain/api-types.js';
import { cborDecode } from '../../src/chain/cbor.js';
import { cidBytes } from '../../src/chain/cid.js';
import { fromB64 } from '../../src/chain/encoding.js';
import { addBalanceParams, clientAddBalance, clientDealCost, dealTermsProblem } from '../../src/deals/escrow.js';
import { newClientKey, verifySignature } from '../../src/deals/keys.js';

/** A node double: nonce 7, gas filled in by "estimation", MpoolPush checks the signature over the message CID. */
async function node() {
  const pushed: { Message: Message; Signature: { Type: number; Data: string } }[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { id, method, params } = JSON.parse(body);
      const reply = (result: unknown, error?: string) => res.end(JSON.stringify(error ? { jsonrpc: '2.0', id, error: { code: 1, message: error } } : { jsonrpc: '2.0', id, result }));
      if (method === 'Filecoin.MpoolGetNonce') return reply(7);
      if (method === 'Filecoin.GasEstimateMessageGas') return reply({ ...params[0], GasLimit: 1_234_567, GasFeeCap: '100200', GasPremium: '99000', Nonce: 99, Value: '1' });
      if (method === 'Filecoin.MpoolPush') {
        const sm = params[0];
        const why = verifySignature(sm.Message.From, cidBytes(messageCid(sm.Message)), sm.Signature);
        if (why) return reply(null, `signature: ${why}`);
        pushed.push(sm);
        return reply(messageCid(sm.Message));
      }
      reply(null, `unexpected ${method}`);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  return { chain: new ChainClient(`token:/ip4/127.0.0.1/tcp/${port}/http`, { timeoutMs: 5000 }), pushed, close: () => srv.close() };
}

for (const type of ['secp256k1', 'bls'] as const) {
  test(`AddBalance from a ${type} key: to the market actor, the client's address as params, the node's gas only, signed over the message CID`, async (t) => {
    const n = await node();
    t.teardown(n.close);
    const key = newClientKey(type);
    const cid = await clientAddBalance(n.chain, key, parseFil('1.5'), 'testnet');
    t.is(n.pushed.length, 1, 'the node verified the signature');
    const m = n.pushed[0]!.Message;
    t.like(
      m,
      { Version: 0, To: 't05', From: key.address, Nonce: 7, Method: 2, Value: parseFil('1.5').toString(), GasLimit: 1_234_567, GasFeeCap: '100200', GasPremium: '99000' },
      "the nonce and value are the client's, not the estimate's",
    );
    t.is(addressFromBytes(cborDecode(fromB64(m.Params!)) as Uint8Array), key.address);
    t.deepEqual(cid, messageCid(m));
    t.is(n.pushed[0]!.Signature.Type, type === 'secp256k1' ? 1 : 2);
  });
}

test('AddBalance params are the CBOR of the address bytes; amounts print as Lotus prints FIL', (t) => {
  t.is(addBalanceParams('t01000').toString('hex'), '4300e807', 'bytes(3): protocol 0, uvarint 1000');
  t.is(formatFil(parseFil('1.5')), '1.5 FIL');
  t.is(formatFil(0n), '0 FIL');
  t.is(formatFil(1n), '0.000000000000000001 FIL');
  t.is(formatFil(parseFil('12')), '12 FIL');
  t.throws(() => clientAddBalance({} as never, newClientKey(), 0n, 'testnet'), { message: /must be positive/ });
});

test('deal terms the market actor would refuse are named before proposing: a start not after the head, a duration outside 180..1278 days, too little escrow', (t) => {
  const ok = { head: 100, startEpoch: 1060, endEpoch: 1060 + 518_400, cost: clientDealCost(1000n, 1060, 1060 + 518_400), available: parseFil('1') };
  t.is(ok.cost, 518_400_000n);
  t.is(dealTermsProblem(ok), undefined);
  t.regex(dealTermsProblem({ ...ok, startEpoch: 100, endEpoch: 100 + 518_400 })!, /start epoch 100 is not after the chain head 100/);
  t.regex(dealTermsProblem({ ...ok, endEpoch: 1060 + 518_399 })!, /lasts 518400 to 3680640 epochs .*this one 518399/);
  t.regex(dealTermsProblem({ ...ok, endEpoch: 1060 + 1278 * 2880 + 1 })!, /this one 3680641/);
  t.is(dealTermsProblem({ ...ok, endEpoch: 1060 + 1278 * 2880 }), undefined, 'the bounds are inclusive');
  t.is(
    dealTermsProblem({ ...ok, available: 518_399_999n }),
    "the client's available escrow is 0.000000000518399999 FIL; this deal needs 0.0000000005184 FIL: add 0.000000000000000001 FIL with `distminer client market add`",
  );
  t.is(clientDealCost(2n, 10, 20, 5n), 25n, 'its collateral and the whole storage fee');
});
