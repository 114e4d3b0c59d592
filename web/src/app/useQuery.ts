// Loading data from an RPC into a screen: the latest answer, its error, and a way to load again (or to poll).

import { useCallback, useEffect, useRef, useState } from "react";

export interface Query<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/**
 * Calls `load` when `key` changes (and on `reload`), keeping the previous data while the next answer comes. With
 * `pollMs`, loads again that long after each answer while `poll(data)` says so.
 */
export function useQuery<T>(
  load: (signal: AbortSignal) => Promise<T>,
  key: string,
  options: { pollMs?: number; poll?: (data: T) => boolean } = {},
): Query<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = () => {
      setLoading(true);
      loadRef.current(controller.signal).then(
        (value) => {
          if (controller.signal.aborted) return;
          setData(value);
          setError(undefined);
          setLoading(false);
          const { pollMs, poll } = optionsRef.current;
          if (pollMs && (!poll || poll(value))) timer = setTimeout(run, pollMs);
        },
        (e: unknown) => {
          if (controller.signal.aborted) return;
          setError(e);
          setLoading(false);
          const { pollMs } = optionsRef.current;
          // Keep polling through a passing failure (a restart of the platform), more slowly.
          if (pollMs) timer = setTimeout(run, pollMs * 4);
        },
      );
    };
    run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [key, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data, error, loading, reload };
}
