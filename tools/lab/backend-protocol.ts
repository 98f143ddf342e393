// The control channel between the lab and its backend server process: JSON lines on the server's
// stdin (commands) and stdout (one reply per command, matched by id).

export type BackendCommand =
  | { id: number; op: 'listen'; name: string; host: string; port: number } // add an address to a backend
  | { id: number; op: 'stop'; name: string }    // close every listening socket of the backend (connects get refused)
  | { id: number; op: 'start'; name: string }   // listen again on the backend's addresses
  | { id: number; op: 'stats' }                 // requests served per backend since the last reset
  | { id: number; op: 'reset' };                // zero the request counters

export interface BackendStats {
  /** backend name -> requests answered */
  requests: Record<string, number>;
  /** backend name -> client address (as the backend saw it) -> requests */
  peers: Record<string, Record<string, number>>;
}

export type BackendReply =
  | { id: number; ok: true; stats?: BackendStats }
  | { id: number; ok: false; error: string };

/** First line the server prints once it reads commands. */
export const BACKEND_READY_LINE = '{"event":"ready"}';
