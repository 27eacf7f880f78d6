/**
 * Phone numbers as the app sends them: trimmed, at most 30 characters, digits with the usual
 * separators (space, ( ) - . /), an optional leading +, and an optional extension ("x 12",
 * "ext. 12"); 3 to 20 digits in all. Anything else rejects the row with a reason, so that a value
 * such as "call me" or "=1+1" never reaches ActiveCampaign.
 */
const PHONE = /^\+?[0-9 ()./-]+(?:\s*(?:x|ext\.?)\s*[0-9]{1,6})?$/i;
export const MAX_PHONE_LENGTH = 30;

export type PhoneCheck = { phone: string; problem?: undefined } | { phone?: undefined; problem: string };

export function checkPhone(value: string): PhoneCheck {
  const phone = value.trim();
  if (phone.length > MAX_PHONE_LENGTH) return { problem: `invalid phone: longer than ${MAX_PHONE_LENGTH} characters` };
  if (!PHONE.test(phone))
    return { problem: 'invalid phone: only digits, spaces, + ( ) - . / and an extension are allowed' };
  const digits = phone.replace(/\D/g, '').length;
  if (digits < 3 || digits > 20) return { problem: 'invalid phone: it needs 3 to 20 digits' };
  return { phone };
}
