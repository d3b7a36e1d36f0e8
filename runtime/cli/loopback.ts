/**
 * Whether a listen address is loopback only (127.0.0.0/8, ::1, localhost): the one test behind
 * every "refused beyond loopback" rule (`run --no-auth`, `agent` without a token, the grants).
 */
import { isIP } from "node:net";

export const isLoopback = (host: string) => host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
