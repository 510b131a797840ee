/**
 * Sign-in sessions of the authorization pages (server/auth/sessions.ts): a browser that signed in keeps a session
 * cookie, and its next authorization within the session's life skips the sign-in page (OpenID Connect `prompt` and
 * `max_age` can still ask for a fresh sign-in). The cookie's value is a random secret stored only as its hash;
 * `csrf` is the token the session's own forms carry (the account page, /auth/account).
 */
exports.up = async (knex) => {
  await knex.raw(`
    CREATE TABLE auth_session (
      id_hash    text        PRIMARY KEY,
      user_id    text        NOT NULL,
      auth_time  timestamptz NOT NULL,
      csrf       text        NOT NULL,
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX auth_session_user ON auth_session (user_id);
    CREATE INDEX auth_session_expires ON auth_session (expires_at);
  `);
};

exports.down = async (knex) => {
  await knex.raw('DROP TABLE auth_session');
};
