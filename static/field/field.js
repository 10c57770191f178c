/* The staff app: completed forms wait in IndexedDB (with their submission ids) until
 * POST /api/submissions accepts them. A form leaves the queue only after the server
 * answered 200/201, so nothing is ever thrown away: offline, a server error (any 5xx),
 * an expired login or a refused form all leave it in the queue, visible and countable.
 * Sending is retried on a timer and whenever the app comes back (online, the page shown
 * again, the phone unlocked), since the browser's `online` event alone is unreliable.
 * A refused form (4xx) is shown in Chinese with its reason; it can be corrected (the
 * form reopens with its answers) or set aside (kept on the phone, no longer sent).
 * The submit token (see survey/api_submissions.py) lets a send succeed days later,
 * after the login and the CSRF token have expired.
 */
(function () {
  'use strict';

  const DB_NAME = 'field-app';
  const CACHE = 'field-v1';
  const RETRY_MS = 30000;
  let sending = null;

  // The field pages of one evaluation live under /e/<slug>/field/; a queued form keeps the
  // slug of the page it was filled in on, so it is sent to (and edited in) that evaluation.
  function appBase() {
    const app = document.getElementById('field-app');
    return (app && app.dataset.base) || '/field/';
  }

  function fieldBase(slug) {
    return slug ? `/e/${encodeURIComponent(slug)}/field/` : appBase();
  }
  const OUTCOME_LABELS = {completed: '完成访问', not_home: '不在家', refused: '拒访', unreachable: '无法联系',
    deceased: '已故', moved: '迁出'};

  // Why the server refused a form, in words a field worker can act on.
  function refusalReason(status, answer) {
    const field = answer.field || '';
    if (status === 409 && field === 'household_id') return '这户已经完成过这份问卷（本机或别的手机已经交过一份），这份是重复的。';
    if (status === 409) return '同一个编号已经交过另一份不同的表单。';
    if (status === 403) return '这个账号不能提交表单，请联系管理员。';
    if (field === 'consent') return '没有勾选“知情同意”，答案不能保存。';
    if (field === 'household_id') return '名册里找不到这户（可能已被管理员删除或更换）。';
    if (field === 'questionnaire') return '这份问卷已经停用或不存在。';
    if (field === 'outcome') return '访问结果不完整：没有访问成功的记录需要住户和调查方式。';
    if (field === 'answers') return '有不该填写的答案（比如“不在家”时填了问卷）。';
    if (field === 'X-CSRFToken') return '页面已过期，请刷新页面后再发送。';
    const question = document.querySelector(`fieldset.question[data-question="${CSS.escape(field)}"] legend`);
    if (question) return `“${question.textContent.trim()}”这道题的回答不符合要求。`;
    return field ? `“${field}”不符合要求（服务器代码 ${status}）。` : `服务器拒收（代码 ${status}）。`;
  }

  // Saved times are shown in the server's zone (data-tz, FLASK_TIMEZONE), not the phone's:
  // a phone left on UTC or on a traveller's zone must still say 18:10 for 18:10 in Beijing.
  function localTime(iso) {
    const date = new Date(iso);
    const app = document.getElementById('field-app');
    const zone = (app && app.dataset.tz) || undefined;
    let parts;
    try {
      parts = new Intl.DateTimeFormat('en-US', {timeZone: zone, month: 'numeric', day: 'numeric',
        hour: '2-digit', minute: '2-digit', hourCycle: 'h23'}).formatToParts(date);
    } catch (error) {  // an unknown zone in an old browser: the phone's own clock
      parts = new Intl.DateTimeFormat('en-US', {month: 'numeric', day: 'numeric', hour: '2-digit',
        minute: '2-digit', hourCycle: 'h23'}).formatToParts(date);
    }
    const part = (type) => (parts.find((p) => p.type === type) || {}).value || '';
    return `${part('month')}月${part('day')}日 ${part('hour')}:${part('minute')}`;
  }

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

  function button(text, className, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = className;
    b.textContent = text;
    b.addEventListener('click', onClick);
    return b;
  }

  function queueEntry(item) {
    const li = document.createElement('li');
    li.dataset.id = item.id;
    const what = item.meta.outcome && item.meta.outcome !== 'completed' ? OUTCOME_LABELS[item.meta.outcome] : '问卷';
    const line = document.createElement('span');
    line.textContent = `${item.label || '无户号'} · ${what} · 保存于 ${localTime(item.saved_at)}`;
    li.append(line);
    if (item.status === 'rejected') {
      li.className = 'rejected';
      const reason = document.createElement('p');
      reason.className = 'reason';
      reason.textContent = `服务器没有接收：${item.reason || item.error}`;
      const edit = `${fieldBase(item.evaluation)}form/${encodeURIComponent(item.questionnaire)}?household=${item.meta.household_id || ''}` +
        `&no=${encodeURIComponent((item.label || '').replace('户号 ', ''))}&edit=${encodeURIComponent(item.id)}`;
      const fix = document.createElement('a');
      fix.className = 'button secondary';
      fix.href = edit;
      fix.textContent = '修改后重发';
      li.append(reason, fix, button('搁置（保留在本机，不再发送）', 'button secondary', () => setAside(item.id)));
    } else if (item.status === 'set_aside') {
      li.className = 'set-aside';
      const reason = document.createElement('p');
      reason.className = 'reason';
      reason.textContent = `已搁置，保留在本机，不会发送。原因：${item.reason || item.error || '—'}`;
      li.append(reason, button('重新发送', 'button secondary', () => restore(item.id)));
    }
    return li;
  }

  async function render() {
    const items = await all('queue');
    const waiting = items.filter((item) => item.status !== 'set_aside');
    const count = document.getElementById('unsent-count');
    if (count) count.textContent = String(waiting.length);
    const list = document.getElementById('queue-list');
    if (list) list.replaceChildren(...waiting.map(queueEntry));
    const aside = items.filter((item) => item.status === 'set_aside');
    const asideList = document.getElementById('aside-list');
    if (asideList) {
      asideList.replaceChildren(...aside.map(queueEntry));
      document.getElementById('aside').hidden = !aside.length;
    }
    await markHouseholds(items);
    return waiting.length;
  }

  // The household list says at once what this phone holds for each household (saved,
  // refused, sent), even when the page itself came from the cache before the save.
  async function markHouseholds(items) {
    const rows = document.querySelectorAll('[data-household]');
    if (!rows.length) return;
    const sent = await all('sent');
    const questionnaire = document.getElementById('field-app').dataset.questionnaire;
    // What counts most for a household: a completed interview sent, then one waiting to
    // go, then a visit without interview; a refused or set-aside form least of all.
    const rank = (item) => {
      if (item.status === 'rejected' || item.status === 'set_aside') return 0;
      const completed = (item.meta.outcome || 'completed') === 'completed';
      return completed ? (item.status === 'sent' ? 4 : 3) : 2;
    };
    const local = new Map();
    for (const item of sent.concat(items)) {
      if (item.questionnaire !== questionnaire || item.meta.household_id == null) continue;
      const previous = local.get(String(item.meta.household_id));
      if (previous && rank(previous) >= rank(item)) continue;
      local.set(String(item.meta.household_id), item);
    }
    let done = 0;
    rows.forEach((li) => {
      const item = local.get(li.dataset.household);
      const status = li.querySelector('.hh-status');
      const marker = li.querySelector('.hh-queued');
      let completed = li.dataset.answered === '1';
      if (item && !completed) {
        const outcome = item.meta.outcome || 'completed';
        const state = item.status === 'sent' ? '已发送' : item.status === 'rejected' ? '未被接收，需处理'
          : item.status === 'set_aside' ? '已搁置' : '已保存，待发送';
        if (status) status.textContent = outcome === 'completed' ? `✔ 已访问（${state}）` : `上次：${OUTCOME_LABELS[outcome]}（${state}）`;
        if (outcome === 'completed' && item.status !== 'set_aside' && item.status !== 'rejected') {
          completed = true;
          li.dataset.localDone = '1';
        }
        li.dataset.status = outcome === 'completed' ? 'done' : 'visited';
      }
      const unsent = items.some((other) => String(other.meta.household_id) === li.dataset.household &&
        other.questionnaire === questionnaire && other.status !== 'set_aside');
      if (marker) marker.hidden = !unsent;
      if (completed) done += 1;
    });
    const reached = document.getElementById('reached-count');
    if (reached) reached.textContent = String(done);
  }

  async function setAside(id) {
    const item = await get('queue', id);
    if (!item) return;
    item.status = 'set_aside';
    await put('queue', item);
    setStatus('已搁置：这份表单保留在本机，不会再发送。');
    await render();
  }

  async function restore(id) {
    const item = await get('queue', id);
    if (!item) return;
    item.status = 'pending';
    await put('queue', item);
    await sendAll(true);
  }

  async function sendOne(item, token, csrf) {
    const headers = {'Content-Type': 'application/json'};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (csrf) headers['X-CSRFToken'] = csrf;
    const payload = {id: item.id, questionnaire: item.questionnaire, answers: item.answers, meta: item.meta};
    // Forms queued before evaluations existed carry no slug: the server then uses the only one.
    if (item.evaluation) payload.evaluation = item.evaluation;
    const body = JSON.stringify(payload);
    return fetch('/api/submissions', {method: 'POST', headers, body, credentials: 'same-origin'});
  }

  async function sendAllNow(includeRejected) {
    await flushCallAudits();
    const items = await all('queue');
    const setting = await get('settings', 'token');
    const token = setting ? setting.value : null;
    const meta = document.querySelector('meta[name="csrf-token"]');
    const csrf = meta ? meta.content : null;
    let sent = 0;
    let problem = null;
    for (const item of items) {
      if (item.status === 'set_aside' || (item.status === 'rejected' && !includeRejected)) continue;
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
      } else if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
        const answer = await response.json().catch(() => ({}));
        item.status = 'rejected';
        item.error = `${answer.field || ''}：${answer.error || response.status}`;
        item.reason = refusalReason(response.status, answer);
        await put('queue', item);
      } else {
        // Any 5xx (or 408/429): the server could not take it now; keep it and try again later.
        problem = '服务器暂时出错，稍后会自动再试。表单仍保存在本机。';
        break;
      }
    }
    const left = await render();
    const refused = (await all('queue')).filter((item) => item.status === 'rejected').length;
    setStatus(problem || (refused ? `有 ${refused} 份表单服务器没有接收，请看下面的原因，修改后重发或搁置。`
      : left ? `已发送 ${sent} 份，还有 ${left} 份未发送。` : (sent ? `已全部发送（${sent} 份）。` : '没有待发送的表单。')));
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
    await navigator.serviceWorker.register(queue.dataset.sw, {scope: appBase()});
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

  // The same rules as Questionnaire.is_visible / constraint_holds (survey/questionnaires.py):
  // a leaf {question, equals|includes|in|op}, or {all}, {any}, {not} of rules.
  function compare(given, op, expected) {
    if (typeof expected === 'number') {
      const number = given === '' ? NaN : Number(given);
      if (Number.isNaN(number)) return op === '!=';
      return { '=': number === expected, '!=': number !== expected, '>': number > expected,
        '>=': number >= expected, '<': number < expected, '<=': number <= expected }[op];
    }
    return (String(given) === String(expected)) === (op === '=');
  }

  function ruleMatches(rule, answers) {
    if (rule.all) return rule.all.every((part) => ruleMatches(part, answers));
    if (rule.any) return rule.any.some((part) => ruleMatches(part, answers));
    if (rule.not) return !ruleMatches(rule.not, answers);
    const given = [].concat(answers[rule.question] === undefined ? [] : answers[rule.question]).map(String);
    if (!given.length) return 'equals' in rule && String(rule.equals) === '';
    if ('equals' in rule) return given.includes(String(rule.equals));
    if ('includes' in rule) return given.includes(String(rule.includes));
    if ('op' in rule) return given.length === 1 && compare(given[0], rule.op, rule.value);
    return (rule.in || []).some((value) => given.includes(String(value)));
  }

  function constraintHolds(rule, value) {
    if (rule.all) return rule.all.every((part) => constraintHolds(part, value));
    if (rule.any) return rule.any.some((part) => constraintHolds(part, value));
    if (rule.not) return !constraintHolds(rule.not, value);
    const values = [].concat(value).map(String);
    if ('includes' in rule) return values.includes(String(rule.includes));
    return values.length === 1 && compare(values[0], rule.op, rule.value);
  }

  function applyShowIf(form, respondentQuestion) {
    const answers = answersOf(form, respondentQuestion);
    form.querySelectorAll('.question[data-question]').forEach((fieldset) => {
      const rule = fieldset.dataset.showIf ? JSON.parse(fieldset.dataset.showIf) : null;
      if (!rule) return;
      fieldset.hidden = !ruleMatches(rule, answers);
    });
    // The questions' words follow who answers: a relative (代答) is asked about the elder.
    const respondent = valuesOf(form, 'respondent_type')[0] || 'self';
    form.querySelectorAll('.qtext').forEach((span) => { span.textContent = span.dataset[respondent] || span.dataset.self; });
    // Number the questions shown 1, 2, 3... with no gaps where show-if hid some.
    let number = 0;
    form.querySelectorAll('fieldset.question').forEach((fieldset) => {
      const label = fieldset.querySelector('.qno');
      if (!fieldset.hidden && label) label.textContent = `${++number}. `;
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
    for (const fieldset of form.querySelectorAll('fieldset.question[data-constraint]')) {
      const id = fieldset.dataset.question;
      if (!fieldset.hidden && id in answers && !constraintHolds(JSON.parse(fieldset.dataset.constraint), answers[id])) {
        return `第“${fieldset.querySelector('legend').textContent.trim()}”题：${fieldset.dataset.constraintMessage}`;
      }
    }
    return null;
  }

  function fill(form, item) {
    const set = (name, values) => {
      form.querySelectorAll(`[name="${name}"]`).forEach((input) => {
        if (input.type === 'radio' || input.type === 'checkbox') input.checked = values.includes(input.value);
        else input.value = values[0] || '';
      });
    };
    set('mode', [item.meta.channel]);
    set('outcome', [item.meta.outcome || 'completed']);
    set('consent', item.meta.consent ? ['1'] : []);
    form.elements.note.value = item.meta.note || '';
    const respondentQuestion = document.getElementById('field-app').dataset.respondentQuestion;
    if (respondentQuestion && item.answers[respondentQuestion]) set('respondent_type', [item.answers[respondentQuestion]]);
    else if (item.meta.respondent_type) set('respondent_type', [item.meta.respondent_type]);
    for (const [id, value] of Object.entries(item.answers)) set(`a-${id}`, [].concat(value).map(String));
  }

  // Has this household a completed interview, on the server (from the list) or on this phone?
  async function householdDone(questionnaire, householdId, params, exceptId) {
    if (params.get('done') === '1') return true;
    const mine = (await all('queue')).concat(await all('sent'));
    return mine.some((item) => item.id !== exceptId && item.questionnaire === questionnaire &&
      String(item.meta.household_id) === String(householdId) && (item.meta.outcome || 'completed') === 'completed' &&
      item.status !== 'set_aside' && item.status !== 'rejected');
  }

  async function setupForm(app) {
    const form = document.getElementById('field-form');
    const params = new URLSearchParams(location.search);
    const respondentQuestion = app.dataset.respondentQuestion || null;
    let startedAt = new Date().toISOString();
    // The cached page is shared by every household: the id and household come from here.
    form.elements.submission_id.value = newId();
    const editing = params.get('edit') ? await get('queue', params.get('edit')) : null;
    if (editing) {
      fill(form, editing);
      startedAt = editing.meta.started_at || startedAt;
      const box = document.getElementById('edit-notice');
      box.hidden = false;
      document.getElementById('edit-reason').textContent = editing.reason || editing.error || '';
    }
    const warning = document.getElementById('done-warning');
    const done = params.get('household') &&
      await householdDone(app.dataset.questionnaire, params.get('household'), params, editing && editing.id);
    if (done) warning.hidden = false;
    if (params.get('household')) {
      form.elements.household_id.value = params.get('household');
      const label = document.getElementById('household-label');
      if (!label.textContent.trim() || !navigator.onLine) label.textContent = `户号 ${params.get('no') || params.get('household')}`;
      // The cached form page is shared by all households: fill in this one's details.
      if (label.textContent.trim() !== '' && !document.querySelector('.call-button')) await showHouseholdOffline(params.get('household'));
    }
    form.addEventListener('change', () => applyShowIf(form, respondentQuestion));
    applyShowIf(form, respondentQuestion);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const outcome = valuesOf(form, 'outcome')[0] || 'completed';
      const householdId = form.elements.household_id.value || null;
      const answers = outcome === 'completed' ? answersOf(form, respondentQuestion) : {};
      let problem = formProblem(form, outcome, householdId, answers);
      if (!problem && done && !form.elements.confirm_done.checked) {
        problem = '这户已经完成过问卷。确实还要记录，请先勾选上面的“我知道这户已完成，仍要记录”。';
      }
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
        evaluation: app.dataset.evaluation || null, answers, meta, label: params.get('no') ? `户号 ${params.get('no')}` : '', status: 'pending',
        saved_at: new Date().toISOString()});
      // The corrected form replaces the refused one (which the server never stored).
      if (editing) await remove('queue', editing.id);
      location.href = `${appBase()}?q=${encodeURIComponent(app.dataset.questionnaire)}`;
    });
  }

  /* ---- the household list ---- */

  // Search and status filter on the phone itself, so they work offline on the cached list.
  function setupList() {
    const search = document.getElementById('s');
    const status = document.getElementById('status');
    const mine = document.getElementById('mine');
    if (!search) return;
    const apply = () => {
      const words = search.value.trim().split(/\s+/).filter(Boolean);
      let shown = 0;
      document.querySelectorAll('li.household').forEach((li) => {
        const ok = words.every((word) => li.dataset.search.includes(word)) &&
          (!status.value || li.dataset.status === status.value) && (!mine.checked || li.dataset.mine === '1');
        li.hidden = !ok;
        if (ok) shown += 1;
      });
      const count = document.getElementById('shown-count');
      if (count) count.textContent = String(shown);
    };
    search.addEventListener('input', apply);
    status.addEventListener('change', apply);
    mine.addEventListener('change', apply);
    document.getElementById('household-search').addEventListener('submit', (event) => { event.preventDefault(); apply(); });
    apply();
  }

  // What the form needs offline for each household (code, site, number to call), kept
  // on the phone like the cached list page that already shows it.
  async function rememberHouseholds() {
    const known = {};
    document.querySelectorAll('li.household').forEach((li) => {
      const call = li.querySelector('[data-phone]');
      known[li.dataset.household] = {label: li.querySelector('a').querySelector('.hh-no').textContent.trim(),
        name: li.querySelector('.hh-name').textContent.trim(), phone: call ? call.dataset.phone : null,
        audit: call ? call.dataset.callAudit : null, answered: li.dataset.answered === '1'};
    });
    if (Object.keys(known).length) {
      const old = await get('settings', 'households');
      await put('settings', {key: 'households', value: Object.assign({}, old ? old.value : {}, known)});
    }
  }

  async function showHouseholdOffline(householdId) {
    const setting = await get('settings', 'households');
    const known = setting && setting.value[householdId];
    if (!known) return;
    const label = document.getElementById('household-label');
    label.textContent = `户号 ${known.label} · ${known.name}`;
    if (known.phone && !document.querySelector('.call-button')) {
      const call = document.createElement('a');
      call.className = 'button call-button';
      call.href = `tel:${known.phone.replace(/[^\d+]/g, '')}`;
      call.dataset.callAudit = known.audit;
      call.textContent = `拨打 ${known.phone}`;
      const p = document.createElement('p');
      p.className = 'call';
      p.append(call);
      label.after(p);
    }
  }

  // Each call is audited: a keep-alive request as the dialler opens (the page view that
  // showed the number was audited by the server already).
  // Offline, the call is noted on the phone and reported with the next send.
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('[data-call-audit]');
    if (link && link.dataset.callAudit) {
      fetch(link.dataset.callAudit, {credentials: 'same-origin', keepalive: true})
        .then((response) => { if (!response.ok && response.status >= 500) throw new Error(String(response.status)); })
        .catch(async () => {
          const pending = await get('settings', 'call-audits');
          await put('settings', {key: 'call-audits', value: (pending ? pending.value : []).concat([link.dataset.callAudit])});
        });
    }
  });

  async function flushCallAudits() {
    const pending = await get('settings', 'call-audits');
    const left = [];
    for (const url of pending ? pending.value : []) {
      try {
        const response = await fetch(url, {credentials: 'same-origin'});
        if (response.status >= 500) left.push(url);
      } catch (error) {
        left.push(url);
      }
    }
    if (pending && pending.value.length) await put('settings', {key: 'call-audits', value: left});
  }

  async function start() {
    const app = document.getElementById('field-app');
    if (!app) return;
    if (app.dataset.submitToken) await put('settings', {key: 'token', value: app.dataset.submitToken});
    if (app.dataset.page === 'form') await setupForm(app);
    if (app.dataset.page === 'index') {
      setupList();
      await rememberHouseholds();
    }
    const button = document.getElementById('send-now');
    if (button) button.addEventListener('click', () => sendAll(true));
    // Retry whenever there may be a network again: the `online` event does not always
    // fire (captive portals, a phone that slept), so also on return and on a timer.
    window.addEventListener('online', () => sendAll(false));
    window.addEventListener('pageshow', (event) => { if (event.persisted) sendAll(false); });
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') sendAll(false); });
    setInterval(() => { if (document.visibilityState === 'visible') sendAll(false); }, Number(app.dataset.retryMs) || RETRY_MS);
    await render();
    const ready = registerWorker(app).catch((error) => setStatus(`离线功能未能启用：${error}`));
    await sendAll(false);  // navigator.onLine can lie either way: just try
    await ready;
  }

  window.fieldApp = {sendAll, requeueSent, render, count: async () => (await all('queue')).length,
    kept: async () => (await all('queue')).map((item) => ({id: item.id, status: item.status, reason: item.reason})),
    pendingCalls: async () => { const p = await get('settings', 'call-audits'); return p ? p.value.length : 0; },
    sentIds: async () => (await all('sent')).map((item) => item.id)};
  window.fieldApp.ready = new Promise((resolve) => {
    document.addEventListener('DOMContentLoaded', () => start().then(resolve, resolve));
  });
})();
