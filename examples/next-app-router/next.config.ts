import type { NextConfig } from "next";

const config: NextConfig = {
  // Loaded by Node at run time, never bundled: better-sqlite3 is a native
  // addon (a `.node` file a bundler cannot inline), and ephemeral-jobs finds
  // its own files (package.json, ZIP workers) relative to where it is installed.
  serverExternalPackages: ["ephemeral-jobs", "better-sqlite3"],
};

export default config;
