// The backends of examples/bookinfo.yaml: create the lab with these (and n: 1) and every endpoint in
// that file has a backend answering with the name below.
import type { BackendSpec } from './lab.js';

export const BOOKINFO_NETWORK = 1;
export const BOOKINFO_CONFIG = 'examples/bookinfo.yaml';

export const BOOKINFO_BACKENDS: readonly BackendSpec[] = [
  { name: 'productpage', host: 10 },
  { name: 'reviews-v1', host: 11 },
  { name: 'reviews-v2', host: 12 },
  { name: 'reviews-v3', host: 13 },
  { name: 'details-1', host: 20 },
  { name: 'details-2', host: 21 },
  { name: 'details-3', host: 22 }, // UNHEALTHY in the config: listens, but must see no traffic
  { name: 'ratings-1', host: 30 }, // load_balancing_weight 3
  { name: 'ratings-2', host: 31 }, // load_balancing_weight 1
];

/** VIPs of examples/bookinfo.yaml, all on port 9080. */
export const BOOKINFO_VIPS = {
  productpage: '10.96.0.10:9080',
  reviews: '10.96.0.20:9080',
  details: '10.96.0.30:9080',
  ratings: '10.96.0.40:9080',
  ratingsV6: '[fd00:96::40]:9080',
} as const;
