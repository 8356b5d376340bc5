import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, Suspense, useEffect } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation, useNavigate } from 'react-router';
import { Toaster } from 'sonner';
import { Layout } from '@/components/layout';
import { LoadingState } from '@/components/common';
import { ApiError, LOGOUT_EVENT, session } from '@/lib/api';
import { ThemeProvider, useTheme } from '@/lib/theme';
import { LoginPage } from '@/pages/login';
import { DashboardPage, prefetchDashboard } from '@/pages/dashboard';

// The dashboard is the landing page and ships in the main bundle; the others load on first visit.
const UpstreamsPage = lazy(() => import('@/pages/upstreams'));
const KeysPage = lazy(() => import('@/pages/keys'));
const UsagePage = lazy(() => import('@/pages/usage'));
const SettingsPage = lazy(() => import('@/pages/settings'));

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      retry: (n, e) => !(e instanceof ApiError && e.status >= 400 && e.status < 500) && n < 2,
      refetchOnWindowFocus: true,
      staleTime: 2_000,
    },
  },
});

/**
 * Signed in and opening the dashboard: ask for its numbers before the first render, so that
 * render shows them instead of a skeleton (waiting at most a moment for a slow server).
 */
export function boot(): Promise<void> {
  if (!session.get() || window.location.pathname !== '/') return Promise.resolve();
  return Promise.race([prefetchDashboard(queryClient), new Promise<void>((r) => setTimeout(r, 300))]);
}

function RequireAuth({ children }: { children: React.ReactNode }) {
  const location = useLocation();
  if (!session.get()) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  return <>{children}</>;
}

/** A 401 anywhere logs out: back to the login page with the server's message. */
function LogoutListener() {
  const navigate = useNavigate();
  useEffect(() => {
    const on = (e: Event) => {
      queryClient.clear();
      navigate('/login', { replace: true, state: { reason: (e as CustomEvent<string>).detail } });
    };
    window.addEventListener(LOGOUT_EVENT, on);
    return () => window.removeEventListener(LOGOUT_EVENT, on);
  }, [navigate]);
  return null;
}

function ThemedToaster() {
  const { theme } = useTheme();
  return <Toaster theme={theme} richColors position="top-right" closeButton />;
}

export function App() {
  return (
    <ThemeProvider>
      <QueryClientProvider client={queryClient}>
        <BrowserRouter>
          <LogoutListener />
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route
              element={
                <RequireAuth>
                  <Layout />
                </RequireAuth>
              }
            >
              <Route index element={<DashboardPage />} />
              <Route path="upstreams/*" element={<Lazy><UpstreamsPage /></Lazy>} />
              <Route path="keys/*" element={<Lazy><KeysPage /></Lazy>} />
              <Route path="usage" element={<Lazy><UsagePage /></Lazy>} />
              <Route path="settings" element={<Lazy><SettingsPage /></Lazy>} />
              <Route path="*" element={<Navigate to="/" replace />} />
            </Route>
          </Routes>
        </BrowserRouter>
        <ThemedToaster />
      </QueryClientProvider>
    </ThemeProvider>
  );
}

function Lazy({ children }: { children: React.ReactNode }) {
  return <Suspense fallback={<LoadingState rows={6} />}>{children}</Suspense>;
}
