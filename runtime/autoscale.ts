/**
 * The autoscaling decision of `evoflow supervise` (runtime/cli/supervise.ts), apart from the
 * processes it starts so it can be tested on its own. One rule, KEDA's for JetStream
 * (`lagThreshold`): replicas = ceil(lag / targetLag) within minReplicas..maxReplicas, where the
 * lag is what waits on the node's async inputs (pending plus delivered-unacknowledged). Up at
 * once, as a backlog costs latency now; down only once `cooldownSeconds` have passed since the
 * last change, so a pause in the load does not stop workers that are needed again a moment later.
 * Processing time (seconds per message per replica, from what the consumers acknowledged
 * between two looks) goes into the event's reason and /metrics, to say how long the lag takes.
 */
import type { Pipeline } from "./schema";

export type Scale = NonNullable<Pipeline["nodes"][number]["scale"]>;

export interface LagReading {
  /** Messages not yet delivered to any replica. */
  pending: number;
  /** Delivered and not yet acknowledged. */
  ackPending: number;
  /** Messages acknowledged so far (delivered minus ack pending), to measure the rate between two readings. */
  handled: number;
}

export interface Decision {
  replicas: number;
  reason: string;
}

/** Replicas the node should have now; `current` is what runs (or is starting). */
export function decideReplicas(scale: Scale, current: number, lag: number, msSinceLastChange: number): Decision {
  const { minReplicas: min, maxReplicas: max, targetLag } = scale;
  const wanted = Math.min(max, Math.max(min, Math.ceil(lag / targetLag)));
  if (current < min) return { replicas: min, reason: `below minReplicas ${min}` };
  if (current > max) return { replicas: max, reason: `above maxReplicas ${max}` };
  if (wanted > current) return { replicas: wanted, reason: `lag ${lag} over targetLag ${targetLag} per replica` };
  if (wanted < current && msSinceLastChange >= scale.cooldownSeconds * 1000)
    return { replicas: wanted, reason: `lag ${lag} needs ${wanted} at targetLag ${targetLag}, cooldown of ${scale.cooldownSeconds} s passed` };
  return { replicas: current, reason: "" };
}

/** Messages handled per second between two readings, and the seconds one took per replica. */
export function processingRate(previous: { handled: number; at: number } | undefined, now: { handled: number; at: number }, replicas: number): { handledPerSecond?: number; secondsPerMessage?: number } {
  if (!previous || now.at <= previous.at) return {};
  const handledPerSecond = Math.max(0, now.handled - previous.handled) / ((now.at - previous.at) / 1000);
  return handledPerSecond > 0 && replicas > 0 ? { handledPerSecond, secondsPerMessage: replicas / handledPerSecond } : { handledPerSecond };
}
