/** Type URL helpers shared by the v2 scan and the filter table. */

const v2Patterns = [/\benvoy\.api\.v2\./, /\benvoy\.config\.filter\.[^ ]*\.v2(alpha\d*)?\./, /\.v2(alpha\d*)?\.[A-Z]/];

/** True for Envoy v2 type URLs, e.g. type.googleapis.com/envoy.config.filter.network.tcp_proxy.v2.TcpProxy. */
export function isEnvoyV2TypeUrl(typeUrl: string): boolean {
  // Only Envoy's own messages: istio.envoy.config.filter.http.alpn.v2alpha1 is Istio's current API.
  const message = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  return message.startsWith('envoy.') && v2Patterns.some((p) => p.test(message));
}

export const v2Message = 'Envoy v2 API is not supported; use v3';
