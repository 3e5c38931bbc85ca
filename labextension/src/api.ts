// Calls to the npuhub service through the server extension's forwarding route
// (/npuhub/api/...), same origin, with JupyterLab's ServerConnection; and to the
// Jupyter contents API for the files of courses.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

const settings = () => ServerConnection.makeSettings();

let language = '';

/** The Lab's language (BCP 47, e.g. "zh-CN"): the service answers in it, refusals too
 * (the browser's own Accept-Language may be another one). */
export function setLanguage(lang: string): void {
  language = lang;
}

export class NPUHubError extends Error {
  /** The service's refusal code (e.g. "no_feedback_yet"), or "" */
  constructor(message: string, public code = '', public params: any = {}) {
    super(message);
  }
}

async function call(base: string, path: string, method = 'GET', body?: unknown): Promise<any> {
  const s = settings();
  const url = URLExt.join(s.baseUrl, base, path);
  const init: RequestInit = { method };
  const headers: { [name: string]: string } = {};
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  if (language) {
    headers['Accept-Language'] = language;
  }
  init.headers = headers;
  const resp = await ServerConnection.makeRequest(url, init, s);
  const text = await resp.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!resp.ok) {
    throw new NPUHubError((data && data.message) || `${resp.status} ${resp.statusText}`,
      (data && data.error) || '', (data && data.params) || {});
  }
  return data;
}

/** The platform service, e.g. api('datasets'), api('jobs', 'POST', {...}). */
export const api = (path: string, method = 'GET', body?: unknown) =>
  call('npuhub/api', path, method, body);

const contents = (path: string, method = 'GET', body?: unknown, query = '') =>
  call('api/contents', path.split('/').map(encodeURIComponent).join('/') + query, method, body);

export async function exists(path: string): Promise<boolean> {
  try {
    await contents(path, 'GET', undefined, '?content=0');
    return true;
  } catch {
    return false;
  }
}

async function makeDirs(path: string): Promise<void> {
  let cur = '';
  for (const part of path.split('/').filter(Boolean)) {
    cur = cur ? `${cur}/${part}` : part;
    if (!(await exists(cur))) {
      await contents(cur, 'PUT', { type: 'directory' });
    }
  }
}

/** Write {relative name: text} under folder; existing files are kept unless overwrite. */
export async function writeFiles(
  folder: string, files: { [rel: string]: string }, overwrite = false
): Promise<string[]> {
  const written: string[] = [];
  for (const [rel, text] of Object.entries(files || {})) {
    if (rel.split('/').some(p => p === '..' || p === '')) {
      continue;
    }
    const path = `${folder}/${rel}`;
    if (!overwrite && (await exists(path))) {
      continue;
    }
    await makeDirs(path.split('/').slice(0, -1).join('/'));
    await contents(path, 'PUT', { type: 'file', format: 'text', content: text });
    written.push(rel);
  }
  return written;
}

/** The text files under folder ({relative name: text}), without feedback/ and hidden. */
export async function readFiles(folder: string, prefix = ''): Promise<{ [rel: string]: string }> {
  const out: { [rel: string]: string } = {};
  const listing = await contents(folder, 'GET', undefined, '?content=1');
  for (const item of listing.content || []) {
    const rel = prefix ? `${prefix}/${item.name}` : item.name;
    if (item.name.startsWith('.') || (!prefix && item.name === 'feedback')) {
      continue;
    }
    if (item.type === 'directory') {
      Object.assign(out, await readFiles(`${folder}/${item.name}`, rel));
    } else {
      const f = await contents(`${folder}/${item.name}`, 'GET', undefined,
        '?type=file&format=text&content=1');
      out[rel] = f.content;
    }
  }
  return out;
}
