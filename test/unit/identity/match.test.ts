import { describe, expect, test } from "bun:test";
import { commMatches, matchMember, type MatchResult, type MemberGroup, type ProcessIdentity } from "../../../src/identity/match.ts";

const ID = "f95e56cd034d65484b8fc7fd1adc1c08c4b628392878d9ab9ba919b1e4681e3e";
const redis = { containerId: ID, names: ["default/redis-0/redis", "redis"], processName: "redis-server" };
const web = { containerId: ID, names: ["web-frontend"], processName: "nginx" };
const bare = { containerId: null, names: [], processName: "elasticsearch-n" };

const member = (group: string, m: string, via: string): MatchResult => ({ kind: "member", group, member: m, via }) as MatchResult;

type Row = { why: string; who: ProcessIdentity; groups: MemberGroup[]; want: MatchResult };
type ErrorRow = { why: string; groups: MemberGroup[]; mentions: string[]; who?: ProcessIdentity };

describe("matchMember()", () => {
  test.each<Row>([
    { why: "full ID", who: web, groups: [{ name: "g", members: ["other", ID] }], want: member("g", ID, "container-id") },
    { why: "full ID in upper case", who: web, groups: [{ name: "g", members: [ID.toUpperCase()] }], want: member("g", ID.toUpperCase(), "container-id") },
    { why: "12-hex prefix", who: web, groups: [{ name: "g", members: [ID.slice(0, 12)] }], want: member("g", ID.slice(0, 12), "id-prefix") },
    { why: "11-hex prefix is too short to be an ID", who: web, groups: [{ name: "g", members: [ID.slice(0, 11)] }], want: { kind: "none" } },
    { why: "hex that is not a prefix", who: web, groups: [{ name: "g", members: ["0123456789abcdef"] }], want: { kind: "none" } },
    { why: "container name", who: web, groups: [{ name: "g", members: ["db", "web-frontend"] }], want: member("g", "web-frontend", "name") },
    { why: "kubernetes namespace/pod/container", who: redis, groups: [{ name: "g", members: ["default/redis-0/redis"] }], want: member("g", "default/redis-0/redis", "k8s") },
    { why: "kubernetes container name alone", who: redis, groups: [{ name: "g", members: ["redis"] }], want: member("g", "redis", "name") },
    { why: "another pod's container", who: redis, groups: [{ name: "g", members: ["prod/redis-0/redis"] }], want: { kind: "none" } },
    { why: "process name", who: redis, groups: [{ name: "g", members: ["redis-server"] }], want: member("g", "redis-server", "process-name") },
    { why: "process name cut to 15 bytes by the kernel", who: bare, groups: [{ name: "g", members: ["elasticsearch-node"] }], want: member("g", "elasticsearch-node", "process-name") },
    { why: "container form beats process name in another group", who: web, groups: [{ name: "a", members: ["nginx"] }, { name: "b", members: ["web-frontend"] }], want: member("b", "web-frontend", "name") },
    { why: "same member listed twice in one group", who: web, groups: [{ name: "g", members: ["web-frontend", "web-frontend"] }], want: member("g", "web-frontend", "name") },
    { why: "no groups", who: web, groups: [], want: { kind: "none" } },
  ])("$why", ({ who, groups, want }) => {
    expect(matchMember(who, groups)).toEqual(want);
  });

  test.each<ErrorRow>([
    { why: "two members that are both prefixes of the ID", groups: [{ name: "g", members: [ID.slice(0, 12), ID.slice(0, 16)] }], mentions: [ID.slice(0, 12), ID.slice(0, 16)] },
    { why: "one member in two groups", groups: [{ name: "a", members: ["web-frontend"] }, { name: "b", members: ["web-frontend"] }], mentions: ['group "a"', 'group "b"'] },
    { why: "the ID in one group and the name in another", groups: [{ name: "a", members: [ID] }, { name: "b", members: ["web-frontend"] }], mentions: ["container-id", "name"] },
    { why: "one process name in two groups", groups: [{ name: "a", members: ["nginx"] }, { name: "b", members: ["nginx"] }], mentions: ['process "nginx"'], who: { ...web, containerId: null, names: [] } },
  ])("ambiguous: $why is an error", ({ groups, mentions, who }) => {
    const got = matchMember(who ?? web, groups);
    expect(got.kind).toBe("error");
    if (got.kind !== "error") return;
    for (const m of mentions) expect(got.message).toContain(m);
    expect(got.message).toMatch(/^[A-Z].*[^.]$/);
  });
});

describe("commMatches()", () => {
  test.each([
    { member: "nginx", comm: "nginx", want: true },
    { member: "elasticsearch-node", comm: "elasticsearch-n", want: true },
    { member: "elasticsearch-node", comm: "elasticsearch-x", want: false },
    { member: "elasticsearch-n", comm: "elasticsearch-n", want: true },
    // A short comm is never a truncation: "elastic" is not "elasticsearch".
    { member: "elasticsearch", comm: "elastic", want: false },
    // 15 bytes, not 15 characters: "ü" is two bytes in UTF-8.
    { member: "überwachung-dienst", comm: "überwachung-di", want: true },
  ])("$member vs comm $comm → $want", ({ member, comm, want }) => {
    expect(commMatches(member, comm)).toBe(want);
  });
});
