/**
 * Gossip tunables, one place, one comment per value. LAN defaults follow hashicorp/memberlist,
 * tightened where a barrier is waiting (notes/gossip-design.md §5.2–5.3).
 */

export interface GossipConfig {
  /** One member probed per interval (SWIM protocol period). */
  readonly probeIntervalMs: number;
  /** Direct ping wait before asking helpers; should be about the 99th-percentile RTT. */
  readonly probeTimeoutMs: number;
  /** Helpers asked for an indirect probe when the direct one fails (SWIM k). */
  readonly indirectChecks: number;
  /** suspicion timeout = mult × max(1, log10 N) × probe interval (memberlist). */
  readonly suspicionMult: number;
  /** Each membership fact is piggybacked mult × ⌈log10(N+1)⌉ times. */
  readonly retransmitMult: number;
  /** Direct push of a changed record: first retransmit after this, doubling… */
  readonly pushRtoMs: number;
  /** …up to this… */
  readonly pushRtoMaxMs: number;
  /** …for at most this many sends; anti-entropy repairs anything beyond. */
  readonly pushAttempts: number;
  /** Push-pull anti-entropy with one random alive member. */
  readonly antiEntropyMs: number;
  /** Seeds and dead members are re-dialled this often, for ever (rejoin after a partition). */
  readonly joinIntervalMs: number;
  /** Packets larger than this are dropped before decryption (fits an IPv4 datagram with room). */
  readonly maxPacketBytes: number;
  /** Packets stamped further than this from our clock are dropped as stale (replay window). */
  readonly maxClockSkewMs: number;
  /** Most records in one anti-entropy message; the rest follows next round. */
  readonly maxRecordsPerMessage: number;
}

export const DEFAULT_GOSSIP: GossipConfig = {
  probeIntervalMs: 1_000, // memberlist LAN
  probeTimeoutMs: 300, // memberlist LAN 500 ms, Local 200 ms; LAN RTTs are far below
  indirectChecks: 3, // memberlist LAN
  suspicionMult: 4, // 4 s suspicion for N ≤ 10 with a 1 s probe interval
  retransmitMult: 4, // memberlist LAN
  pushRtoMs: 10, // design note §5.2
  pushRtoMaxMs: 200, // design note §5.2
  pushAttempts: 25, // about 4 s of retries
  antiEntropyMs: 1_000, // design note: 1 s while an operation is active; cheap at our sizes
  joinIntervalMs: 5_000, // partition heal well within the 30 s goal
  maxPacketBytes: 60_000, // below the 65,507-byte UDP payload limit
  maxClockSkewMs: 60_000, // NTP-synchronised nodes; wider only weakens replay protection
  maxRecordsPerMessage: 200, // ≈ 100 B per record
};

/** Time a suspect member has to refute before it is declared dead. */
export function suspicionTimeoutMs(cfg: GossipConfig, members: number): number {
  return cfg.suspicionMult * Math.max(1, Math.log10(Math.max(1, members))) * cfg.probeIntervalMs;
}

/** How many messages carry one membership fact. */
export function retransmitLimit(cfg: GossipConfig, members: number): number {
  return cfg.retransmitMult * Math.ceil(Math.log10(members + 1));
}
