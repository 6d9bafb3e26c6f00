import { describe, expect, test } from "bun:test";
import { ChangeSignal, keyOf } from "../../../src/util/change-signal.ts";

describe("ChangeSignal (long polls answered on change)", () => {
  test("until() answers at once without a key, or when the key differs", async () => {
    const s = new ChangeSignal();
    let v = { n: 1 };
    expect(await s.until(() => v, keyOf, undefined, 5000)).toEqual({ n: 1 });
    expect(await s.until(() => v, keyOf, keyOf({ n: 0 }), 5000)).toEqual({ n: 1 });
  });

  test("until() waits for the change that notify() announces, not for its timeout", async () => {
    const s = new ChangeSignal();
    let v = { n: 1 };
    const t0 = performance.now();
    setTimeout(() => s.notify(), 20); // a notify without a change keeps it waiting
    setTimeout(() => {
      v = { n: 2 };
      s.notify();
    }, 60);
    expect(await s.until(() => v, keyOf, keyOf(v), 5000)).toEqual({ n: 2 });
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(55);
    expect(ms).toBeLessThan(1000);
  });

  test("until() gives the unchanged value back after its timeout", async () => {
    const s = new ChangeSignal();
    const t0 = performance.now();
    expect(await s.until(() => "same", (x) => x, "same", 50)).toBe("same");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
  });

  test("keyOf tells values apart and is stable", () => {
    expect(keyOf({ a: [1, 2] })).toBe(keyOf({ a: [1, 2] }));
    expect(keyOf({ a: [1, 2] })).not.toBe(keyOf({ a: [2, 1] }));
  });
});
