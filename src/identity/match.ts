/**
 * Which configured group member is this process? Pure.
 *
 * A member string matches in one of these forms:
 *   container-id   the full 64-hex container ID (case-insensitive);
 *   id-prefix      a hex prefix of the ID of at least MIN_ID_PREFIX (12) characters, the length
 *                  `docker ps`, `podman ps` and `crictl ps` print. Shorter hex strings are treated as
 *                  names only: "cafe" or "beef1" are plausible container names, and a 4-hex prefix
 *                  would collide with 1 container in 65536;
 *   name           a container name resolved from the runtime's state (names.ts), e.g. "web-frontend";
 *   k8s            `namespace/pod/container`, e.g. "default/redis-0/redis";
 *   process-name   the kernel's comm. comm is cut to 15 bytes (TASK_COMM_LEN 16 with the NUL), so a
 *                  member longer than 15 bytes matches a comm equal to its first 15 bytes:
 *                  "elasticsearch-node" matches comm "elasticsearch-n".
 *
 * Container forms (the first four) win over the process name: many processes share a comm. Within
 * a tier, two different (group, member) pairs that both match are an error, never a pick: that is a
 * member in two groups, two members that are both prefixes of the ID, or a name and an ID of the
 * same container listed as two members.
 */

export type MatchVia = "container-id" | "id-prefix" | "name" | "k8s" | "process-name";

export type MatchResult =
  | { kind: "member"; group: string; member: string; via: MatchVia }
  | { kind: "none" }
  | { kind: "error"; message: string };

export type ProcessIdentity = { containerId: string | null; names: string[]; processName: string };
export type MemberGroup = { name: string; members: string[] };

/** Shortest hex string accepted as an ID prefix (see the module comment). */
export const MIN_ID_PREFIX = 12;

/** The kernel keeps 15 bytes of a process name (TASK_COMM_LEN - 1). */
export const COMM_MAX_BYTES = 15;

type Candidate = { group: string; member: string; via: MatchVia };

const encoder = new TextEncoder();

/** True if `member` is what the kernel would show as comm for a process named `member`. */
export function commMatches(member: string, comm: string): boolean {
  if (member === comm) return true;
  const bytes = encoder.encode(member);
  if (bytes.length <= COMM_MAX_BYTES || encoder.encode(comm).length !== COMM_MAX_BYTES) return false;
  return Buffer.from(bytes.subarray(0, COMM_MAX_BYTES)).equals(Buffer.from(encoder.encode(comm)));
}

/** The container form a member matches by, if any. */
function containerVia(member: string, identity: ProcessIdentity): MatchVia | null {
  const id = identity.containerId?.toLowerCase() ?? null;
  const m = member.toLowerCase();
  if (id !== null && m === id) return "container-id";
  if (id !== null && /^[0-9a-f]+$/.test(m) && m.length >= MIN_ID_PREFIX && id.startsWith(m)) return "id-prefix";
  if (identity.names.includes(member)) return member.split("/").length === 3 ? "k8s" : "name";
  return null;
}

function describe(c: Candidate): string {
  return `"${c.member}" in group "${c.group}" (${c.via})`;
}

/** One match in the tier, or an error naming every match when there are several. */
function decide(candidates: Candidate[], what: string): MatchResult | null {
  const unique = candidates.filter(
    (c, i) => candidates.findIndex((d) => d.group === c.group && d.member === c.member) === i,
  );
  const [first, ...rest] = unique;
  if (first === undefined) return null;
  if (rest.length === 0) return { kind: "member", ...first };
  return { kind: "error", message: `Cannot choose a member for ${what}: ${unique.map(describe).join(", ")} all match` };
}

/** Finds the one group member this process is, per the forms in the module comment. */
export function matchMember(identity: ProcessIdentity, groups: MemberGroup[]): MatchResult {
  const byContainer: Candidate[] = [];
  const byComm: Candidate[] = [];
  for (const g of groups) {
    for (const member of g.members) {
      const via = containerVia(member, identity);
      if (via !== null) byContainer.push({ group: g.name, member, via });
      else if (identity.processName !== "" && commMatches(member, identity.processName)) {
        byComm.push({ group: g.name, member, via: "process-name" });
      }
    }
  }
  const what = identity.containerId ?? identity.names[0] ?? `process "${identity.processName}"`;
  return decide(byContainer, `container ${what}`) ?? decide(byComm, `process "${identity.processName}"`) ?? { kind: "none" };
}
