import { describe, expect, test } from "bun:test";
import { encodeReferenceRequest, parseDependencies, parseReferenceRequest, TOKENS } from "../../../src/compat/protocol.ts";
import { tokenFor } from "../../../src/compat/replies.ts";
import { RequestBuffer } from "../../../src/compat/request-buffer.ts";

const enc = (s: string) => new TextEncoder().encode(s);

describe("reference requests", () => {
  test("encodeReferenceRequest() writes the reference client's exact bytes", () => {
    expect(encodeReferenceRequest("A", "pre-dump", ["B", "C"])).toBe(`{"id":"A","action":"pre-dump","dependencies":"B:C"}`);
    expect(encodeReferenceRequest("A", "post-dump", [])).toBe(`{"id":"A","action":"post-dump","dependencies":""}`);
  });

  test.each([
    ["B:C", ["B", "C"]],
    ["", []],
    ["B:", ["B"]],
    [" B : C ", ["B", "C"]],
    [["B", "C"], ["B", "C"]],
    ["B:B", ["B"]],
    [null, []],
  ] as const)("parseDependencies(%p)", (input, expected) => {
    expect(parseDependencies(input)).toEqual([...expected]);
  });

  test("parseDependencies() rejects other shapes", () => {
    expect(typeof parseDependencies({ B: 1 })).toBe("string");
    expect(typeof parseDependencies([1])).toBe("string");
  });

  test("parseReferenceRequest() drops self-dependencies and reads the kubescr map in both spellings", () => {
    expect(parseReferenceRequest({ id: "A", action: "pre-dump", dependencies: "A:B" })).toEqual({ kind: "hook", id: "A", action: "pre-dump", dependencies: ["B"] });
    for (const action of ["add-dependencies", "add_dependencies"]) {
      expect(parseReferenceRequest({ id: "kubescr", action, dependencies: { c1: ["c2", "c1"], c2: "c1" } })).toEqual({
        kind: "add-dependencies",
        map: { c1: ["c2"], c2: ["c1"] },
      });
    }
  });

  test.each([
    [[1], "request must be a JSON object"],
    [{ action: "pre-dump" }, '"id" must be'],
    [{ id: "A" }, '"action" must be'],
    [{ id: "A", action: "pre-dump", dependencies: 3 }, "dependencies must be"],
    [{ id: "kubescr", action: "add-dependencies", dependencies: "x" }, "add-dependencies needs an object"],
  ])("parseReferenceRequest(%p) is an error", (raw, message) => {
    expect(parseReferenceRequest(raw)).toContain(message);
  });
});

describe("RequestBuffer", () => {
  test("a request split anywhere, even inside a UTF-8 character, completes once", () => {
    const bytes = enc(`{"id":"café}{","action":"pre-dump","dependencies":["B","C"]}`);
    for (let cut = 1; cut < bytes.length; cut++) {
      const b = new RequestBuffer();
      expect(b.push(bytes.subarray(0, cut)).state).toBe("incomplete");
      expect(b.push(bytes.subarray(cut))).toEqual({ state: "complete", value: { id: "café}{", action: "pre-dump", dependencies: ["B", "C"] } });
    }
  });

  test("escaped quotes and nested braces inside strings do not end the object", () => {
    const b = new RequestBuffer();
    expect(b.push(enc(`{"id":"a\\"}","action":"x"`)).state).toBe("incomplete");
    expect(b.push(enc(`}trailing`))).toEqual({ state: "complete", value: { id: 'a"}', action: "x" } });
  });

  test("not an object, invalid JSON, and more than the limit are rejected", () => {
    expect(new RequestBuffer().push(enc(`["a"]`)).state).toBe("invalid");
    expect(new RequestBuffer().push(enc(`{"id":}`)).state).toBe("invalid");
    expect(new RequestBuffer().push(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d])).state).toBe("invalid");
    const b = new RequestBuffer(64);
    expect(b.push(enc(`{"id":"${"x".repeat(40)}`)).state).toBe("incomplete");
    expect(b.push(enc("x".repeat(40)))).toEqual({ state: "invalid", reason: "request larger than 64 bytes" });
  });
});

describe("tokenFor()", () => {
  const r = (ok: boolean, code: string, message = "") => ({ type: "reply", callId: "1", ok, code, message }) as never;
  test.each([
    [r(true, "released"), "pre-dump", TOKENS.ack],
    [r(true, "recorded"), "network-unlock", TOKENS.ack],
    [r(false, "timeout"), "network-unlock", TOKENS.timeout],
    [r(false, "aborted", "Operation g#1 aborted: Timed out at pre-dump after 2s waiting for B"), "pre-dump", TOKENS.timeout],
    [r(false, "aborted", "Operation g#1 aborted: No progress for 30s"), "pre-dump", TOKENS.timeout],
    [r(false, "aborted", "Operation g#1 aborted: A went away while waiting"), "pre-dump", TOKENS.aborted],
    [r(false, "no-operation"), "post-dump", TOKENS.notConnected],
    [r(false, "duplicate"), "network-lock", TOKENS.alreadyConnected],
    [r(false, "duplicate"), "post-dump", TOKENS.alreadyCreated],
    [r(false, "bad-request"), "pre-dumpp", TOKENS.unknownAction],
  ])("%p at %s → %s", (reply, hook, token) => {
    expect(tokenFor(reply, hook)).toBe(token);
  });
});
