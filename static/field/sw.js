/* Service worker of one evaluation's staff app (served from /e/<slug>/field/sw.js, scope
 * /e/<slug>/field/: the directory it is served from).
 *
 * Network first, cache as fallback: online, staff always see the current household
 * list and forms (and every good answer refreshes the cache); offline, the last copy
 * is served. Form pages are cached once per questionnaire and matched without their
 * query string (?household=..), so any household can be opened offline. Submissions
 * are not handled here: field.js keeps them in IndexedDB until the server has them.
 */
'use strict';

const CACHE = 'field-v1';
const BASE = new URL('./', self.location.href).pathname;
const CORE = [BASE, '/static/field/field.js', '/static/field/field.css',
  '/static/css/office.css', '/static/field/manifest.webmanifest', '/static/field/icon.svg'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(CORE)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
    .then(() => self.clients.claim()));
});

function cacheable(url) {
  return url.origin === self.location.origin && url.pathname !== self.location.pathname &&
    (url.pathname.startsWith(BASE) || url.pathname.startsWith('/static/'));
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (!cacheable(url)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      // A redirect to the login page is shown, never cached in place of the page.
      if (response.ok && !response.redirected) await cache.put(request, response.clone());
      return response;
    } catch (error) {
      const cached = await cache.match(request) ||
        await cache.match(request, {ignoreSearch: true});
      if (cached) return cached;
      return new Response('<!doctype html><meta charset="utf-8"><title>离线</title>' +
        '<p style="font-size:20px">现在没有网络，这个页面还没有存到本机。已保存的表单不会丢失。</p>',
        {status: 503, headers: {'Content-Type': 'text/html; charset=utf-8'}});
    }
  })());
});
