/** React side of the labeling page: the queue, the item leased to this labeler, recent labels, and the two actions. */
import { useCallback, useEffect, useState } from "react";
import { api, type LabelItem, type LabelQueueInfo } from "../api";

export interface LabelQueueState {
  info?: LabelQueueInfo;
  item?: LabelItem;
  /** Nothing waits: asked again every few seconds. */
  empty: boolean;
  recent: LabelItem[];
  error?: string;
  label(label: number): void;
  skip(): void;
}

export function useLabelQueue(queue: string, labeler: string | undefined): LabelQueueState {
  const [info, setInfo] = useState<LabelQueueInfo>();
  const [item, setItem] = useState<LabelItem>();
  const [empty, setEmpty] = useState(false);
  const [recent, setRecent] = useState<LabelItem[]>([]);
  const [error, setError] = useState<string>();
  const fail = (err: Error) => setError(err.message);

  const refresh = useCallback(async () => {
    // The lease first, so the counts include it.
    const next = labeler ? await api.nextLabelItem(queue, labeler) : undefined;
    setInfo(await api.labelQueue(queue));
    setRecent((await api.labelItems(queue, "labelled", 10)).items.reverse());
    if (!labeler) return;
    setItem(next?.item);
    setEmpty(!next);
    setError(undefined);
  }, [queue, labeler]);

  useEffect(() => {
    refresh().catch(fail);
  }, [refresh]);
  useEffect(() => {
    if (!empty) return;
    const timer = setInterval(() => refresh().catch(fail), 3000);
    return () => clearInterval(timer);
  }, [empty, refresh]);

  const act = (call: (id: string, who: string) => Promise<unknown>) => {
    if (!item || !labeler) return;
    setItem(undefined); // one key press, one label: the next arrives with refresh
    call(item.id, labeler).then(refresh).catch((err: Error) => {
      fail(err);
      void refresh().catch(fail);
    });
  };
  return {
    info,
    item,
    empty,
    recent,
    error,
    label: (label) => act((id, who) => api.submitLabel(queue, id, who, label)),
    skip: () => act((id, who) => api.skipLabelItem(queue, id, who)),
  };
}
