import { describe, expect, test } from "bun:test";
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME } from "../../../src/protocol/frame.ts";
import { parseRequest } from "../../../src/protocol/messages.ts";

describe("frames", () => {
  test("round trip, also when split into single bytes", () => {
    const msgs = [{ v: 1, type: "status" }, { v: 1, type: "arrive", group: "g", participant: "ü", hook: "pre-dump" }];
    const bytes = new Uint8Array([...encodeFrame(msgs[0]), ...encodeFrame(msgs[1])]);
    const d = new FrameDecoder();
    const got: unknown[] = [];
    for (const b of bytes) got.push(...d.push(new Uint8Array([b])));
    expect(got).toEqual(msgs);
    expect(d.buffered).toBe(0);
  });

  test("two frames in one chunk", () => {
    const d = new FrameDecoder();
    expect(d.push(new Uint8Array([...encodeFrame(1), ...encodeFrame("x")]))).toEqual([1, "x"]);
  });

  test.each([
    ["an oversized length, before any body arrives", new Uint8Array([0x7f, 0, 0, 0]), "Frame too large"],
    ["bytes that are not UTF-8", new Uint8Array([0, 0, 0, 2, 0xff, 0xfe]), "not valid UTF-8"],
    ["text that is not JSON", new Uint8Array([0, 0, 0, 3, 0x61, 0x62, 0x63]), "not valid JSON"],
  ])("%s is a FrameError", (_name, bytes, message) => {
    const d = new FrameDecoder();
    expect(() => d.push(bytes)).toThrow(FrameError);
    expect(() => new FrameDecoder().push(bytes)).toThrow(message);
  });

  test("the limit is enforced on encode too", () => {
    expect(() => encodeFrame("x".repeat(MAX_FRAME))).toThrow("Frame too large");
  });
});

describe("parseRequest", () => {
  test.each([
    [null, "must be a JSON object"],
    [{ v: 2, type: "status" }, "Unsupported protocol version 2"],
    [{ v: 1, type: "dance" }, 'Unknown request type "dance"'],
    [{ v: 1, type: "arrive", group: "g", participant: "p" }, 'Field "hook"'],
    [{ v: 1, type: "arrive", group: "g", participant: "x".repeat(300), hook: "pre-dump" }, 'Field "participant"'],
    [{ v: 1, type: "arrive", group: "g", participant: "p", hook: "pre-dump", pid: -3 }, 'Field "pid"'],
    [{ v: 1, type: "abort", group: "g", reason: 5 }, 'Field "reason"'],
  ])("%p is refused: %s", (raw, message) => {
    const r = parseRequest(raw);
    expect(typeof r).toBe("string");
    expect(r as string).toContain(message);
  });

  test("a valid arrive passes", () => {
    const req = { v: 1, type: "arrive", group: "g", participant: "p", hook: "pre-dump", attempt: "criu:1:2", pid: 42 };
    expect(parseRequest(req)).toEqual(req as never);
  });
});
