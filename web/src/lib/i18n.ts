// English and Simplified Chinese. Every namespace lives in src/locales/<ns>.ts with both languages
// side by side; defineMessages() makes the Chinese table a type error when it misses a key.
import i18n from 'i18next';
import { initReactI18next } from 'react-i18next';
import { namespaces } from '@/locales';

export const LANGUAGES = [
  { code: 'en', label: 'English' },
  { code: 'zh-CN', label: '简体中文' },
] as const;
export type Language = (typeof LANGUAGES)[number]['code'];

const LANG_KEY = 'clove.lang';

export function initialLanguage(): Language {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === 'en' || saved === 'zh-CN') return saved;
  } catch {
    /* storage unavailable */
  }
  const prefs = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const l of prefs) {
    const low = (l || '').toLowerCase();
    if (low.startsWith('zh')) return 'zh-CN';
    if (low.startsWith('en')) return 'en';
  }
  return 'en';
}

export function setLanguage(lang: Language) {
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    /* ignore */
  }
  void i18n.changeLanguage(lang);
}

const resources: Record<string, Record<string, object>> = { en: {}, 'zh-CN': {} };
for (const [ns, m] of Object.entries(namespaces)) {
  resources.en[ns] = m.en;
  resources['zh-CN'][ns] = m.zh;
}

void i18n.use(initReactI18next).init({
  resources,
  lng: initialLanguage(),
  fallbackLng: 'en',
  defaultNS: 'common',
  ns: Object.keys(namespaces),
  interpolation: { escapeValue: false },
  returnNull: false,
  // The resources are bundled: initialise synchronously so the first render does not suspend.
  initAsync: false,
  react: { useSuspense: false },
});

i18n.on('languageChanged', (lng) => {
  document.documentElement.lang = lng;
});
document.documentElement.lang = i18n.language;

export default i18n;
