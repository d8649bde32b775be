// @ts-check
/* global document, location, EventSource, fetch, URLSearchParams */
/**
 * The live page of one job (`/?job=<id>`): its files as they land, from
 * `GET /{id}/events` (Server-Sent Events), a progress bar from
 * `GET /{id}/progress`, refetched after each change, and a download link once
 * the job's terminal `complete` status arrives. Plain browser JavaScript, no
 * build step; typechecked through `// @ts-check` by `npm run typecheck`.
 *
 * Requests carry no `Authorization` header (EventSource cannot send one): the
 * host authenticates the page by its same-origin session cookie.
 *
 * `document.body.dataset.state` says where the page is ("loading",
 * "connecting", "live" (the event stream is open), "reconnecting", "complete", "failed", "error", "jobs"), for people and tests.
 */

const API = "/api/v1/jobs";

/** @param {string} id @returns {HTMLElement} */
function element(id) {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`#${id} is missing from index.html`);
  return found;
}

/** @param {string} state */
function setState(state) {
  document.body.dataset.state = state;
  element("status").textContent = state === "live" ? "generating" : state;
}

/** @param {string} text */
function showMessage(text) {
  const message = element("message");
  message.textContent = text;
  message.hidden = false;
}

/** @param {number} bytes */
function formatSize(bytes) {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}

/**
 * GET a JSON route of the API; throws with the API's error message.
 * @param {string} route
 * @returns {Promise<any>}
 */
async function getJson(route) {
  const response = await fetch(`${API}${route}`, { headers: { accept: "application/json" } });
  const body = await response.json().catch(() => undefined);
  if (!response.ok) throw new Error(body?.error?.message ?? `${route} answered ${response.status}`);
  return body;
}

/** The file list, one `<li data-path>` per file, kept in the order the files landed. */
const files = {
  list: /** @type {HTMLOListElement} */ (element("files")),
  /** @type {Map<string, HTMLLIElement>} */
  items: new Map(),

  /** @param {string} path @param {number | undefined} size */
  put(path, size) {
    let item = this.items.get(path);
    if (item === undefined) {
      item = document.createElement("li");
      item.dataset.path = path;
      const name = document.createElement("span");
      name.className = "path";
      name.textContent = path;
      const sizeText = document.createElement("span");
      sizeText.className = "size";
      item.append(name, sizeText);
      this.items.set(path, item);
      this.list.append(item);
    }
    const sizeText = item.querySelector(".size");
    if (sizeText !== null) sizeText.textContent = size === undefined ? "" : formatSize(size);
    item.classList.remove("fresh");
    void item.offsetWidth; // restart the highlight animation on a rewrite
    item.classList.add("fresh");
    this.counted();
  },

  /** @param {string} path */
  remove(path) {
    this.items.get(path)?.remove();
    this.items.delete(path);
    this.counted();
  },

  counted() {
    element("files-count").textContent = String(this.items.size);
  },
};

/** `GET /{id}/progress`, at most one request in flight; a change during one asks for another after it. */
function progressUpdater(/** @type {string} */ jobRoute) {
  /** @type {Promise<void> | undefined} */
  let running;
  let again = false;

  async function fetchOnce() {
    const progress = await getJson(`${jobRoute}/progress`);
    const bar = /** @type {HTMLProgressElement} */ (element("progress-bar"));
    bar.value = progress.percent;
    element("progress-text").textContent =
      progress.planned_files === 0
        ? "Waiting for the plan…"
        : `${progress.written_files} of ${progress.planned_files} files · ${progress.percent}%`;
    const tasks = element("tasks");
    tasks.replaceChildren(
      ...progress.tasks.map((/** @type {{ name: string, planned: number, written: number }} */ task) => {
        const item = document.createElement("li");
        item.textContent = `${task.name} ${task.written}/${task.planned}`;
        item.classList.toggle("done", task.written === task.planned);
        return item;
      }),
    );
  }

  /** @returns {Promise<void>} resolves once the progress shown is at least as new as this call */
  return function update() {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fetchOnce();
        } while (again);
      } catch (error) {
        // Not fatal (a dropped connection, a restarting host): the next change fetches it again.
        element("progress-text").textContent = `Progress unavailable, retrying on the next change (${error instanceof Error ? error.message : String(error)})`;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
}

/** @param {string} jobId */
async function showJob(jobId) {
  const jobRoute = `/${encodeURIComponent(jobId)}`;
  element("job-id").textContent = jobId;
  const job = await getJson(jobRoute);
  element("project").textContent = job.project_name;
  document.title = `${job.project_name} · live job`;
  element("job").hidden = false;
  setState("connecting");

  const updateProgress = progressUpdater(jobRoute);
  void updateProgress();

  // The whole history first (seq 0 on), then each change. On a dropped
  // connection EventSource reconnects by itself with Last-Event-ID, so nothing is
  // seen twice; it must be closed at the terminal status, or it would reconnect forever.
  const events = new EventSource(`${API}${jobRoute}/events`);
  events.onopen = () => setState("live"); // on the first connection and after a reconnect
  events.onerror = () => {
    if (events.readyState === EventSource.CONNECTING) setState("reconnecting");
    else if (events.readyState === EventSource.CLOSED && document.body.dataset.state !== "complete") {
      setState("error");
      showMessage("The event stream was refused (is the job still there, and are you signed in?)");
    }
  };
  events.onmessage = (message) => {
    /** @type {{ seq: number, type: string, path?: string, from?: string, size?: number, status?: string }} */
    const change = JSON.parse(message.data);
    if (change.type === "file:written" && change.path !== undefined) files.put(change.path, change.size);
    else if (change.type === "file:deleted" && change.path !== undefined) files.remove(change.path);
    else if (change.type === "file:moved" && change.path !== undefined) {
      if (change.from !== undefined) files.remove(change.from);
      files.put(change.path, change.size);
    } else if (change.type === "job:status" && (change.status === "complete" || change.status === "failed")) {
      events.close();
      void finish(jobRoute, change.status, updateProgress);
      return;
    }
    void updateProgress();
  };
}

/**
 * @param {string} jobRoute
 * @param {"complete" | "failed"} status
 * @param {() => Promise<void>} updateProgress
 */
async function finish(jobRoute, status, updateProgress) {
  await updateProgress();
  if (status === "failed") {
    const job = await getJson(jobRoute);
    setState("failed");
    showMessage(`The job failed: ${job.error_message ?? "no reason given"}`);
    return;
  }
  const download = /** @type {HTMLAnchorElement} */ (element("download"));
  // No `download` attribute: the name comes from the response's Content-Disposition.
  download.href = `${API}${jobRoute}/download`;
  download.hidden = false;
  setState("complete");
}

async function showJobs() {
  const { jobs } = await getJson("");
  element("project").textContent = "Jobs";
  const list = element("jobs-list");
  list.replaceChildren(
    ...jobs.map((/** @type {{ job_id: string, project_name: string, status: string }} */ job) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `?job=${encodeURIComponent(job.job_id)}`;
      link.textContent = `${job.project_name} (${job.status})`;
      item.append(link);
      return item;
    }),
  );
  element("jobs").hidden = false;
  setState("jobs");
}

const jobId = new URLSearchParams(location.search).get("job");
(jobId === null ? showJobs() : showJob(jobId)).catch((error) => {
  setState("error");
  showMessage(error instanceof Error ? error.message : String(error));
});
