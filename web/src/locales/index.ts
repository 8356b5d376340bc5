import common from './common';
import login from './login';
import dashboard from './dashboard';
import upstreams from './upstreams';
import keys from './keys';
import usage from './usage';
import settings from './settings';

export const namespaces = { common, login, dashboard, upstreams, keys, usage, settings };

declare module 'i18next' {
  interface CustomTypeOptions {
    defaultNS: 'common';
    resources: { [K in keyof typeof namespaces]: (typeof namespaces)[K]['en'] };
  }
}
