import { describe, expect, test } from "bun:test";
import { generateKey, parseKeyring } from "../../../src/gossip/keyring.ts";
import { ReplayGuard } from "../../../src/gossip/replay.ts";
import { Sealer } from "../../../src/gossip/security.ts";
import { decode, encode, MSG } from "../../../src/gossip/wire.ts";

const k1 = new Uint8Array(32).fill(1);
const k2 = new Uint8Array(32).fill(2);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("keyring", () => {
  test("generateKey() returns 32 random bytes in base64", () => {
    const a = generateKey();
    expect(Buffer.from(a, "base64").length).toBe(32);
    expect(generateKey()).not.toBe(a);
  });

  test("parseKeyring() reads one key per line, skipping blanks and comments, first key first", () => {
    const [a, b] = [generateKey(), generateKey()];
    const keys = parseKeyring(`# primary\n${a}\n\n  ${b}  \n`);
    expect(keys.map((k) => Buffer.from(k).toString("base64"))).toEqual([a, b]);
  });

  test.each([
    ["", "No key in test.key: generate one with criu-coordinator keygen"],
    ["not base64!\n", "Invalid key in test.key line 1: not base64"],
    [`${generateKey()}\nAAAA\n`, "Invalid key in test.key line 2: 3 bytes, expected 32"],
  ])("parseKeyring() rejects %j", (input, message) => {
    expect(() => parseKeyring(input, "test.key")).toThrow(message);
  });
});

describe("Sealer", () => {
  test("a sealed packet opens with the same key and shows sender and type", () => {
    const s = new Sealer([k1]);
    const r = s.open(s.seal(4, "node-a", new TextEncoder().encode("hello")));
    expect(r.ok && [r.sender, r.type, text(r.plaintext)]).toEqual(["node-a", 4, "hello"]);
  });

  test("secondary keys decrypt, so keys rotate without downtime", () => {
    const old = new Sealer([k1]);
    const rotating = new Sealer([k2, k1]);
    expect(rotating.open(old.seal(1, "a", new Uint8Array([1]))).ok).toBe(true);
    expect(old.open(rotating.seal(1, "a", new Uint8Array([1])))).toEqual({ ok: false, reason: "decrypt" });
  });

  test("a wrong key, another label, a changed sender or type, or a flipped bit fail to open", () => {
    const s = new Sealer([k1]);
    const p = s.seal(2, "node-a", new TextEncoder().encode("x"));
    expect(new Sealer([k2]).open(p)).toEqual({ ok: false, reason: "decrypt" });
    expect(new Sealer([k1], "other-cluster").open(p)).toEqual({ ok: false, reason: "decrypt" });
    const asOther = new Uint8Array(p);
    asOther[4] = "m".charCodeAt(0); // node-a → mode-a
    expect(s.open(asOther).ok).toBe(false);
    const retyped = new Uint8Array(p);
    retyped[2] = 3;
    expect(s.open(retyped).ok).toBe(false);
    const flipped = new Uint8Array(p);
    flipped[flipped.length - 20]! ^= 1;
    expect(s.open(flipped).ok).toBe(false);
  });

  test("garbage of every length is a failure, never an exception", () => {
    const s = new Sealer([k1]);
    for (let len = 0; len < 200; len++) {
      const junk = crypto.getRandomValues(new Uint8Array(len));
      if (len > 1) [junk[0], junk[1]] = [0xc5, 1];
      expect(s.open(junk).ok).toBe(false);
    }
  });

  test("a cluster without a key is refused", () => {
    expect(() => new Sealer([])).toThrow("Cluster key required");
    expect(() => new Sealer([new Uint8Array(16)])).toThrow("Invalid cluster key: 16 bytes, expected 32");
  });
});

describe("ReplayGuard", () => {
  test("each packet counter is accepted once, old generations and stale stamps never", () => {
    const g = new ReplayGuard(60_000);
    expect(g.check(1000, "a", 5, 1, 1000)).toBe("ok");
    expect(g.check(1000, "a", 5, 3, 1000)).toBe("ok");
    expect(g.check(1000, "a", 5, 2, 1000)).toBe("ok"); // reordered, still in the window
    expect(g.check(1000, "a", 5, 3, 1000)).toBe("replayed");
    expect(g.check(1000, "a", 4, 99, 1000)).toBe("replayed"); // a previous run of the daemon
    expect(g.check(1000, "a", 6, 1, 1000)).toBe("ok"); // it restarted
    expect(g.check(100_000, "b", 1, 1, 1000)).toBe("stale");
    expect(g.check(1000, "a", 6, 5000, 1000)).toBe("ok");
    expect(g.check(1000, "a", 6, 2, 1000)).toBe("replayed"); // below the window
  });
});

describe("wire", () => {
  const common = { ts: 1, gen: 2, n: 3, addr: "10.0.0.1:7946", inc: 0, updates: [] };

  test("a message survives encode and decode", () => {
    const m = { ...common, t: "push" as const, id: 1, records: [{ node: "a", gen: 1, rec: { group: "g", epoch: 1, kind: "dump" as const, progress: { p: 2 }, seq: 4 } }] };
    const { type, data } = encode(m);
    expect(type).toBe(MSG.push);
    expect(decode(type, data)).toEqual(m);
  });

  test.each([
    ["not JSON", "{"],
    ["type code mismatch", JSON.stringify({ ...common, t: "ack", seq: 1 })],
    ["missing field", JSON.stringify({ ...common, t: "push", id: 1 })],
    ["bad record kind", JSON.stringify({ ...common, t: "push", id: 1, records: [{ node: "a", gen: 1, rec: { group: "g", epoch: 1, kind: "x", progress: {}, seq: 1 } }] })],
    ["negative rank", JSON.stringify({ ...common, t: "push", id: 1, records: [{ node: "a", gen: 1, rec: { group: "g", epoch: 1, kind: "dump", progress: { p: -1 }, seq: 1 } }] })],
    ["array body", "[1,2]"],
  ])("decode() rejects %s", (_why, json) => {
    expect(decode(MSG.push, new TextEncoder().encode(json))).toBeUndefined();
  });
});
