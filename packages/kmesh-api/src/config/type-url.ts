/** Type URL helpers shared by the v2 scan and the filter table. */

const v2Patterns = [/\benvoy\.api\.v2\./, /\benvoy\.config\.filter\.[^ ]*\.v2(alpha\d*)?\./, /\.v2(alpha\d*)?\.[A-Z]/];

/** True for Envoy v2 type URLs, e.g. type.googleapis.com/envoy.config.filter.network.tcp_proxy.v2.TcpProxy. */
export function isEnvoyV2TypeUrl(typeUrl: string): boolean {
  return typeUrl.includes('envoy.') && v2Patterns.some((p) => p.test(typeUrl));
}

export const v2Message = 'Envoy v2 API is not supported; use v3';
