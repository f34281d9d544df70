// The API client: the key lives in sessionStorage and travels only in the
// Workflow-API-Key header (never in a URL, never in a cookie).
const KEY = "workflow-api-key";

export class ApiError extends Error {
  constructor(status, message, errors) {
    super(message);
    this.status = status;
    this.errors = errors || null;
  }
}

let onUnauthorized = () => {};
export const setUnauthorizedHandler = (handler) => (onUnauthorized = handler);

export const getKey = () => sessionStorage.getItem(KEY);
export const setKey = (key) => sessionStorage.setItem(KEY, key);
export const clearKey = () => sessionStorage.removeItem(KEY);

function headers(extra) {
  return { "Workflow-API-Key": getKey() || "", ...extra };
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message = (body && body.message) || `${response.status} ${response.statusText}`;
  const error = new ApiError(response.status, message, body && body.errors);
  if (response.status === 401) onUnauthorized(error);
  return error;
}

// fetch with the key; throws ApiError for any answer that is not 2xx.
export async function request(path, { method = "GET", json, body, headers: extra, signal } = {}) {
  const init = { method, headers: headers(extra), signal, credentials: "omit", cache: "no-store" };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
    init.headers["Content-Type"] = "application/octet-stream";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, `The API cannot be reached (${error.message}).`);
  }
  if (!response.ok) throw await failure(response);
  return response;
}

export const getJSON = async (path, options) => (await request(path, options)).json();
export const sendJSON = async (method, path, json) => {
  const response = await request(path, { method, json });
  return response.status === 204 ? null : response.json();
};

// A file of the API (an artifact URL) as a Blob; the key goes in the header.
export const getBlob = async (url, options) => (await request(url, options)).blob();
export const getText = async (url, options) => (await request(url, options)).text();

// Every page of a listing (?limit=&offset=), for lists of runs.
export async function getAll(path, { pageSize = 500, limit = 10000 } = {}) {
  const items = [];
  for (let offset = 0; offset < limit; offset += pageSize) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await getJSON(`${path}${sep}limit=${pageSize}&offset=${offset}`);
    const list = Array.isArray(page) ? page : page.items || [];
    items.push(...list);
    if (list.length < pageSize) break;
  }
  return items;
}

export const pipelinePath = (p) => `/v1/pipelines/${p}`;
export const runPath = (p, r) => `/v1/pipelines/${p}/runs/${r}`;
export const sweepPath = (p, s) => `/v1/pipelines/${p}/sweeps/${s}`;
