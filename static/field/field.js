/* The staff app: completed forms wait in IndexedDB (with their submission ids) until
 * POST /api/submissions accepts them. A form leaves the queue only after the server
 * answered 200/201, so nothing is ever thrown away: offline, a server error, an
 * expired login or a refused form all leave it in the queue, visible and countable.
 * The submit token (see survey/api_submissions.py) lets a send succeed days later,
 * after the login and the CSRF token have expired.
 */
(function () {
  'use strict';

  const DB_NAME = 'field-app';
  const CACHE = 'field-v1';
  let sending = null;

  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore('queue', {keyPath: 'id'});
        db.createObjectStore('sent', {keyPath: 'id'});
        db.createObjectStore('settings', {keyPath: 'key'});
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function tx(store, mode, action) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(store, mode);
      const request = action(transaction.objectStore(store));
      let result;
      if (request) request.onsuccess = () => { result = request.result; };
      transaction.oncomplete = () => { db.close(); resolve(result); };
      transaction.onerror = () => { db.close(); reject(transaction.error); };
      transaction.onabort = () => { db.close(); reject(transaction.error); };
    });
  }

  const put = (store, value) => tx(store, 'readwrite', (s) => s.put(value));
  const remove = (store, key) => tx(store, 'readwrite', (s) => s.delete(key));
  const all = (store) => tx(store, 'readonly', (s) => s.getAll());
  const get = (store, key) => tx(store, 'readonly', (s) => s.get(key));

  function newId() {
    if (self.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function setStatus(text) {
    const status = document.getElementById('queue-status');
    if (status) status.textContent = text;
  }

  async function render() {
    const items = await all('queue');
    const count = document.getElementById('unsent-count');
    if (count) count.textContent = String(items.length);
    const list = document.getElementById('queue-list');
    if (list) {
      list.replaceChildren(...items.map((item) => {
        const li = document.createElement('li');
        li.dataset.id = item.id;
        li.textContent = `${item.label || '无户号'} · ${item.saved_at.slice(0, 16).replace('T', ' ')}`;
        if (item.status === 'rejected') {
          li.className = 'rejected';
          li.textContent += ` · 服务器未接收（${item.error}），请核对后点“现在发送”重试`;
        }
        return li;
      }));
    }
    const queued = new Set(items.map((item) => String(item.meta.household_id)));
    document.querySelectorAll('[data-household]').forEach((li) => {
      const marker = li.querySelector('.hh-queued');
      if (marker) marker.hidden = !queued.has(li.dataset.household);
    });
    return items.length;
  }

  async function sendOne(item, token, csrf) {
    const headers = {'Content-Type': 'application/json'};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (csrf) headers['X-CSRFToken'] = csrf;
    const body = JSON.stringify({id: item.id, questionnaire: item.questionnaire, answers: item.answers, meta: item.meta});
    return fetch('/api/submissions', {method: 'POST', headers, body, credentials: 'same-origin'});
  }

  async function sendAllNow(includeRejected) {
    const items = await all('queue');
    const setting = await get('settings', 'token');
    const token = setting ? setting.value : null;
    const meta = document.querySelector('meta[name="csrf-token"]');
    const csrf = meta ? meta.content : null;
    let sent = 0;
    let problem = null;
    for (const item of items) {
      if (item.status === 'rejected' && !includeRejected) continue;
      let response;
      try {
        response = await sendOne(item, token, csrf);
      } catch (error) {
        problem = '没有网络，表单保存在本机，有网络时会自动发送。';
        break;
      }
      if (response.status === 200 || response.status === 201) {
        await put('sent', Object.assign({}, item, {status: 'sent', sent_at: new Date().toISOString()}));
        await remove('queue', item.id);
        sent += 1;
      } else if (response.status === 401) {
        problem = '登录已过期，请重新登录后点“现在发送”。表单仍保存在本机，不会丢失。';
        break;
      } else if (response.status >= 400 && response.status < 500) {
        const answer = await response.json().catch(() => ({}));
        item.status = 'rejected';
        item.error = `${answer.field || ''}：${answer.error || response.status}`;
        await put('queue', item);
      } else {
        problem = '服务器暂时出错，稍后会再试。表单仍保存在本机。';
        break;
      }
    }
    const left = await render();
    setStatus(problem || (left ? `已发送 ${sent} 份，还有 ${left} 份未发送。` : (sent ? `已全部发送（${sent} 份）。` : '没有待发送的表单。')));
    return {sent, left};
  }

  function sendAll(includeRejected) {
    if (!sending) {
      sending = sendAllNow(includeRejected).finally(() => { sending = null; });
    }
    return sending;
  }

  async function requeueSent(ids) {
    const done = await all('sent');
    for (const item of done) {
      if (ids && !ids.includes(item.id)) continue;
      await put('queue', Object.assign({}, item, {status: 'pending'}));
      await remove('sent', item.id);
    }
    return render();
  }

  async function registerWorker(app) {
    const queue = document.querySelector('[data-sw]');
    if (!('serviceWorker' in navigator) || !queue) return;
    await navigator.serviceWorker.register(queue.dataset.sw, {scope: '/field/'});
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, {once: true}));
    }
    if (navigator.onLine && app.dataset.page === 'index') {
      const urls = Array.from(document.querySelectorAll('[data-precache]'), (link) => link.getAttribute('href'));
      const cache = await caches.open(CACHE);
      await cache.addAll(urls);
      await cache.add(location.pathname + location.search);
    }
  }

  /* ---- the form page ---- */

  function valuesOf(form, name) {
    return Array.from(form.querySelectorAll(`[name="${name}"]`))
      .filter((input) => (input.type === 'radio' || input.type === 'checkbox') ? input.checked : true)
      .map((input) => input.value.trim()).filter((value) => value !== '');
  }

  function answersOf(form, respondentQuestion) {
    const answers = {};
    form.querySelectorAll('fieldset.question').forEach((fieldset) => {
      if (fieldset.hidden) return;
      const id = fieldset.dataset.question;
      const values = valuesOf(form, `a-${id}`);
      if (!values.length) return;
      answers[id] = fieldset.dataset.type === 'multi' ? values : values[0];
    });
    const respondent = valuesOf(form, 'respondent_type')[0];
    if (respondentQuestion && respondent) answers[respondentQuestion] = respondent;
    return answers;
  }

  function applyShowIf(form, respondentQuestion) {
    const answers = answersOf(form, respondentQuestion);
    form.querySelectorAll('fieldset.question').forEach((fieldset) => {
      const rule = fieldset.dataset.showIf ? JSON.parse(fieldset.dataset.showIf) : null;
      if (!rule) return;
      const given = [].concat(answers[rule.question] || []).map(String);
      let visible = false;
      if ('equals' in rule) visible = given.includes(String(rule.equals));
      else if ('includes' in rule) visible = given.includes(String(rule.includes));
      else if (rule.in) visible = rule.in.some((value) => given.includes(String(value)));
      fieldset.hidden = !visible;
    });
    const outcome = valuesOf(form, 'outcome')[0];
    document.getElementById('interview').hidden = outcome !== 'completed';
  }

  function formProblem(form, outcome, householdId, answers) {
    if (!valuesOf(form, 'mode').length) return '请选择调查方式（入户或电话）。';
    if (outcome !== 'completed') return householdId ? null : '没有访问成功的记录需要从住户列表打开。';
    if (!valuesOf(form, 'consent').length) return '请先取得知情同意并勾选“知情同意”。';
    for (const fieldset of form.querySelectorAll('fieldset.question[data-required]')) {
      if (!fieldset.hidden && !(fieldset.dataset.question in answers)) {
        return `第“${fieldset.querySelector('legend').textContent.trim()}”题必须回答。`;
      }
    }
    return null;
  }

  function setupForm(app) {
    const form = document.getElementById('field-form');
    const params = new URLSearchParams(location.search);
    const respondentQuestion = app.dataset.respondentQuestion || null;
    const startedAt = new Date().toISOString();
    // The cached page is shared by every household: the id and household come from here.
    form.elements.submission_id.value = newId();
    if (params.get('household')) {
      form.elements.household_id.value = params.get('household');
      const label = document.getElementById('household-label');
      if (!label.textContent.trim() || !navigator.onLine) label.textContent = `户号 ${params.get('no') || params.get('household')}`;
    }
    form.addEventListener('change', () => applyShowIf(form, respondentQuestion));
    applyShowIf(form, respondentQuestion);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const outcome = valuesOf(form, 'outcome')[0] || 'completed';
      const householdId = form.elements.household_id.value || null;
      const answers = outcome === 'completed' ? answersOf(form, respondentQuestion) : {};
      const problem = formProblem(form, outcome, householdId, answers);
      const box = document.getElementById('form-error');
      if (problem) {
        document.getElementById('form-error-text').textContent = problem;
        box.hidden = false;
        box.scrollIntoView();
        return;
      }
      const note = form.elements.note.value.trim();
      const meta = {channel: valuesOf(form, 'mode')[0], household_id: householdId ? Number(householdId) : null,
        consent: valuesOf(form, 'consent').length ? 1 : 0, outcome, source: 'field',
        started_at: startedAt, submitted_at: new Date().toISOString()};
      if (note) meta.note = note;
      if (!respondentQuestion && outcome === 'completed') meta.respondent_type = valuesOf(form, 'respondent_type')[0];
      await put('queue', {id: form.elements.submission_id.value, questionnaire: app.dataset.questionnaire,
        answers, meta, label: params.get('no') ? `户号 ${params.get('no')}` : '', status: 'pending',
        saved_at: new Date().toISOString()});
      location.href = `/field/?q=${encodeURIComponent(app.dataset.questionnaire)}`;
    });
  }

  async function start() {
    const app = document.getElementById('field-app');
    if (!app) return;
    if (app.dataset.submitToken) await put('settings', {key: 'token', value: app.dataset.submitToken});
    if (app.dataset.page === 'form') setupForm(app);
    const button = document.getElementById('send-now');
    if (button) button.addEventListener('click', () => sendAll(true));
    window.addEventListener('online', () => sendAll(false));
    await render();
    const ready = registerWorker(app).catch((error) => setStatus(`离线功能未能启用：${error}`));
    if (navigator.onLine) await sendAll(false);
    await ready;
  }

  window.fieldApp = {sendAll, requeueSent, render, count: async () => (await all('queue')).length,
    sentIds: async () => (await all('sent')).map((item) => item.id)};
  window.fieldApp.ready = new Promise((resolve) => {
    document.addEventListener('DOMContentLoaded', () => start().then(resolve, resolve));
  });
})();
