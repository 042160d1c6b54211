/** A valid registration body (`client` of POST /api/v1/clients/register); tests override one field at a time. */
export const clientBody = (email: string, over: Record<string, unknown> = {}) => ({
  email,
  first_name: 'Ada',
  last_name: 'Lovelace',
  password: 'analytical-engine-1843',
  date_of_birth: '1990-12-10',
  phone: '+1 514 555 0100',
  ...over,
});
