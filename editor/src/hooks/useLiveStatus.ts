/** React side of core/live-status.ts: the deployed pipeline's live figures, empty when nothing runs. */
import { useEffect, useState } from "react";
import { api } from "../api";
import { pollLiveStatus, type LiveStatus } from "../core/live-status";

const NONE: LiveStatus = { nodes: new Map(), edges: new Map() };

export function useLiveStatus(deployed: string | undefined, onGone: (name: string) => void): LiveStatus {
  const [live, setLive] = useState(NONE);
  useEffect(() => {
    if (!deployed) {
      setLive(NONE);
      return;
    }
    return pollLiveStatus({ fetchStatus: () => api.status(deployed), onStatus: setLive, onGone: () => onGone(deployed) });
  }, [deployed, onGone]);
  return live;
}
