import { expect, test } from "bun:test";
import { DeadlineTimer } from "../../../src/util/deadline-timer.ts";

test("DeadlineTimer fires once at the deadline, can be moved, and cleared", async () => {
  let fired = 0;
  const t = new DeadlineTimer(Date.now, () => fired++);
  t.set(Date.now() + 30);
  t.set(Date.now() + 30); // same deadline again: still one timer
  await Bun.sleep(60);
  expect(fired).toBe(1);
  t.set(Date.now() + 20);
  t.set(undefined);
  t.set(Date.now() + 10);
  t.clear();
  await Bun.sleep(40);
  expect(fired).toBe(1);
  t.set(Date.now() - 5); // already past: fires at once
  await Bun.sleep(10);
  expect(fired).toBe(2);
});
