export default function Home() {
  return (
    <main>
      <h1>ephemeral-jobs</h1>
      <p>
        The REST API is served under <code>/api/v1/jobs</code> by{" "}
        <code>app/api/v1/jobs/[[...path]]/route.ts</code>.
      </p>
    </main>
  );
}
