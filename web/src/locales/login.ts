import { defineMessages } from './define';

export default defineMessages(
  {
    title: 'Sign in to Clove',
    subtitle: 'Enter an admin key. Clove printed one at its first start (admin key (shown once…)) unless ADMIN_API_KEYS is set.',
    key: 'Admin key',
    placeholder: 'clv_admin_…',
    submit: 'Sign in',
    checking: 'Checking…',
    invalid: 'This key was rejected: {{message}}',
    loggedOut: 'You were signed out: {{message}}',
    tooMany: 'Too many failed attempts. Try again later.',
    sessionNote: 'The key stays in this browser tab only (session storage).',
  },
  {
    title: '登录 Clove',
    subtitle: '输入管理密钥。若未设置 ADMIN_API_KEYS，Clove 会在首次启动时打印一个（admin key (shown once…)）。',
    key: '管理密钥',
    placeholder: 'clv_admin_…',
    submit: '登录',
    checking: '正在验证…',
    invalid: '密钥被拒绝：{{message}}',
    loggedOut: '你已退出登录：{{message}}',
    tooMany: '失败次数过多，请稍后再试。',
    sessionNote: '密钥只保存在当前浏览器标签页（会话存储）中。',
  },
);
