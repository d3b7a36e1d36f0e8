/** jstat ships no types; bandit.ts types the two functions it uses. */
declare module "jstat";
