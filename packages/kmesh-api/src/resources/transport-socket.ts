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
  if (Array.isArray(obj.transport_socket_matches) && obj.transport_socket_matches.length > 0) {
    d.error(field(path, 'transport_socket_matches'), 'transport_socket_matches is not supported: kmesh does not originate TLS');
  }
}
