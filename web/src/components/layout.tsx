import { Gauge, KeyRound, Languages, LogOut, Menu, Monitor, Moon, ScrollText, Server, Settings, Sun } from 'lucide-react';
import { useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { NavLink, Outlet, useNavigate } from 'react-router';
import { session } from '@/lib/api';
import { LANGUAGES, setLanguage, type Language } from '@/lib/i18n';
import { useTheme, type Theme } from '@/lib/theme';
import { cn } from '@/lib/utils';
import { Button } from './ui/button';
import { Dialog, DialogContent, DialogTitle, DialogDescription } from './ui/dialog';
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuRadioGroup,
  DropdownMenuRadioItem,
  DropdownMenuTrigger,
} from './ui/dropdown-menu';

const NAV = [
  { to: '/', key: 'dashboard', icon: Gauge, end: true },
  { to: '/upstreams', key: 'upstreams', icon: Server },
  { to: '/keys', key: 'keys', icon: KeyRound },
  { to: '/usage', key: 'usage', icon: ScrollText },
  { to: '/settings', key: 'settings', icon: Settings },
] as const;

function Logo() {
  const { t } = useTranslation();
  return (
    <div className="flex items-center gap-2 font-semibold">
      <img src="/favicon.svg" alt="" className="size-7" />
      <div className="leading-tight">
        <div>{t('appName')}</div>
        <div className="text-[11px] font-normal text-muted-foreground">{t('tagline')}</div>
      </div>
    </div>
  );
}

function NavLinks({ onNavigate }: { onNavigate?: () => void }) {
  const { t } = useTranslation();
  return (
    <nav className="flex flex-col gap-1" aria-label="main">
      {NAV.map(({ to, key, icon: Icon, ...rest }) => (
        <NavLink
          key={to}
          to={to}
          end={'end' in rest}
          onClick={onNavigate}
          data-testid={`nav-${key}`}
          className={({ isActive }) =>
            cn(
              'flex items-center gap-3 rounded-md px-3 py-2 text-sm font-medium transition-colors',
              isActive ? 'bg-primary/10 text-primary' : 'text-muted-foreground hover:bg-accent hover:text-foreground',
            )
          }
        >
          <Icon className="size-4" />
          {t(`nav.${key}`)}
        </NavLink>
      ))}
    </nav>
  );
}

export function LanguageSwitch() {
  const { t, i18n } = useTranslation();
  return (
    <DropdownMenu>
      <DropdownMenuTrigger asChild>
        <Button variant="ghost" size="sm" aria-label={t('header.language')} data-testid="language-switch">
          <Languages />
          <span className="hidden sm:inline">{LANGUAGES.find((l) => l.code === i18n.language)?.label ?? i18n.language}</span>
        </Button>
      </DropdownMenuTrigger>
      <DropdownMenuContent align="end">
        <DropdownMenuRadioGroup value={i18n.language} onValueChange={(v) => setLanguage(v as Language)}>
          {LANGUAGES.map((l) => (
            <DropdownMenuRadioItem key={l.code} value={l.code} data-testid={`lang-${l.code}`}>
              {l.label}
            </DropdownMenuRadioItem>
          ))}
        </DropdownMenuRadioGroup>
      </DropdownMenuContent>
    </DropdownMenu>
  );
}

export function ThemeSwitch() {
  const { t } = useTranslation();
  const { theme, setTheme } = useTheme();
  const Icon = theme === 'dark' ? Moon : theme === 'light' ? Sun : Monitor;
  return (
    <DropdownMenu>
      <DropdownMenuTrigger asChild>
        <Button variant="ghost" size="icon" aria-label={t('header.theme')} data-testid="theme-switch">
          <Icon />
        </Button>
      </DropdownMenuTrigger>
      <DropdownMenuContent align="end">
        <DropdownMenuRadioGroup value={theme} onValueChange={(v) => setTheme(v as Theme)}>
          {(['light', 'dark', 'system'] as const).map((m) => (
            <DropdownMenuRadioItem key={m} value={m} data-testid={`theme-${m}`}>
              {t(`header.${m}`)}
            </DropdownMenuRadioItem>
          ))}
        </DropdownMenuRadioGroup>
      </DropdownMenuContent>
    </DropdownMenu>
  );
}

export function Layout({ children }: { children?: ReactNode }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const logout = () => {
    session.clear();
    navigate('/login');
  };
  return (
    <div className="min-h-screen md:grid md:grid-cols-[14rem_1fr]">
      <aside className="hidden border-r bg-card/50 md:flex md:flex-col md:gap-6 md:p-4 md:sticky md:top-0 md:h-screen">
        <Logo />
        <NavLinks />
      </aside>
      <div className="min-w-0">
        <header className="sticky top-0 z-30 flex h-14 items-center gap-2 border-b bg-background/85 px-3 backdrop-blur sm:px-5">
          <Button variant="ghost" size="icon" className="md:hidden" aria-label={t('header.menu')} data-testid="menu" onClick={() => setOpen(true)}>
            <Menu />
          </Button>
          <div className="md:hidden">
            <Logo />
          </div>
          <div className="ml-auto flex items-center gap-1">
            <LanguageSwitch />
            <ThemeSwitch />
            <Button variant="ghost" size="sm" onClick={logout} data-testid="logout" aria-label={t('header.logout')}>
              <LogOut />
              <span className="hidden sm:inline">{t('header.logout')}</span>
            </Button>
          </div>
        </header>
        <main className="mx-auto w-full max-w-7xl p-3 sm:p-6">{children ?? <Outlet />}</main>
      </div>
      <Dialog open={open} onOpenChange={setOpen}>
        <DialogContent className="left-0 top-0 h-full max-h-none w-64 max-w-[80vw] translate-x-0 translate-y-0 rounded-none rounded-r-xl content-start">
          <DialogTitle className="sr-only">{t('header.menu')}</DialogTitle>
          <DialogDescription className="sr-only">{t('tagline')}</DialogDescription>
          <Logo />
          <NavLinks onNavigate={() => setOpen(false)} />
        </DialogContent>
      </Dialog>
    </div>
  );
}
