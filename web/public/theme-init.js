// Applies the saved theme before the first paint (no flash of the wrong theme). A file, not an
// inline script, so the page's Content-Security-Policy can forbid inline scripts.
(function () {
  try {
    var t = localStorage.getItem('clove.theme') || 'system';
    var dark = t === 'dark' || (t === 'system' && matchMedia('(prefers-color-scheme: dark)').matches);
    if (dark) document.documentElement.classList.add('dark');
  } catch (e) {}
})();
