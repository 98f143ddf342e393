/**
 * transport_socket on a filter chain or a cluster. kmesh rewrites the
 * destination of the application's own connection, so the bytes go through
 * untouched: plaintext (raw_buffer) is the only transport it can honour.
 * Ignoring TLS would send cleartext where the config asks for TLS, hence an error.
 */
import { Diagnostics, field } from '../diagnostics.js';
import { isObject, type Obj } from '../config/fields.js';

const rawBuffer = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';

export function checkTransportSocket(obj: Obj, path: string, d: Diagnostics, role: 'downstream' | 'upstream'): void {
  const ts = obj.transport_socket;
  if (ts !== undefined && ts !== null) {
    const at = field(path, 'transport_socket');
    const typeUrl = isObject(ts) && isObject(ts.typed_config) ? ts.typed_config['@type'] : undefined;
    const name = isObject(ts) ? ts.name : undefined;
    const isRaw = typeUrl === rawBuffer || (typeUrl === undefined && name === 'envoy.transport_sockets.raw_buffer');
    if (!isRaw) {
      const what = typeof typeUrl === 'string' ? typeUrl : typeof name === 'string' ? name : 'transport_socket';
      const does = role === 'downstream' ? 'terminate TLS' : 'originate TLS';
      d.error(at, `${what} is not supported: kmesh does not ${does} (the connection goes straight to the endpoint); accepted: no transport_socket or raw_buffer`);
    }
  }
  if (Array.isArray(obj.transport_socket_matches) && obj.transport_socket_matches.length > 0) checkSocketMatches(obj.transport_socket_matches, field(path, 'transport_socket_matches'), d);
}

function isRawBuffer(ts: unknown): boolean {
  if (!isObject(ts)) return false;
  const typeUrl = isObject(ts.typed_config) ? ts.typed_config['@type'] : undefined;
  return typeUrl === rawBuffer || (typeUrl === undefined && ts.name === 'envoy.transport_sockets.raw_buffer');
}

/**
 * transport_socket_matches picks TLS per endpoint by its metadata. Istio's
 * auto-mTLS shape is "TLS for endpoints labelled tlsMode: istio, else
 * plaintext": kmesh sends plaintext to all of them, which a PERMISSIVE peer
 * accepts, so that shape is a warning naming the consequence. Matches without
 * a plaintext fallback would send cleartext where only TLS is configured: error.
 */
function checkSocketMatches(matches: unknown[], path: string, d: Diagnostics): void {
  const fallback = matches.find((m) => isObject(m) && isRawBuffer(m.transport_socket) && (m.match === undefined || (isObject(m.match) && Object.keys(m.match).length === 0)));
  if (!fallback) {
    d.error(path, 'transport_socket_matches without a raw_buffer fallback (a match: {} entry) is not supported: kmesh does not originate TLS');
    return;
  }
  const tls = matches.filter((m) => !isRawBuffer(isObject(m) ? m.transport_socket : undefined)).map((m) => (isObject(m) && typeof m.name === 'string' ? m.name : 'unnamed'));
  if (tls.length > 0) {
    d.warn(path, `TLS is not originated by kmesh: endpoints matched by ${tls.join(', ')} get plaintext connections (an Istio peer in PERMISSIVE mode accepts them, STRICT mTLS refuses them)`);
  }
}
