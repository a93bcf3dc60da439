export interface ReviewRecord {
  id: string;
  body: string;
  /** From 1 to 5. */
  rating: number;
  upc: string;
  /** The author's user id; null for a review written without a signed-in caller. */
  authorId: string | null;
}

/**
 * The usernames this subgraph provides with `Review.author` (@provides), so that showing an author's handle needs no
 * call to accounts. They match the accounts subgraph's data.
 */
export const USERNAMES: Readonly<Record<string, string>> = {
  '1': '@ada',
  '2': '@complete',
  '3': '@grace',
  '4': '@ewd',
  '5': '@substitute',
  '6': '@apollo11',
};

/** The products that can be reviewed: the catalog's upcs. */
export const REVIEWABLE_UPCS: ReadonlySet<string> = new Set(['1', '2', '3', '4', '5', '6', '7', '8', '9']);

/** The demo's eleven reviews. Their bodies are paragraph-length, as real reviews are, so responses have realistic size. */
export const REVIEWS: readonly ReviewRecord[] = [
  {
    id: '1', upc: '1', authorId: '1', rating: 5,
    body: 'This table has become the centre of our home. The oak top took a week of dinners, homework and one spilled glass of wine without a mark, and the legs do not wobble on our uneven floor. Assembly took twenty minutes with the included key. I would buy it again without a second thought.',
  },
  {
    id: '2', upc: '1', authorId: '2', rating: 4,
    body: 'Solid, handsome and exactly the size the listing promised. I took one star off because the finish is a shade darker than in the photographs, which matters if you are matching other furniture. The delivery team carried it upstairs and took the packaging away, which I appreciated.',
  },
  {
    id: '3', upc: '2', authorId: '3', rating: 3,
    body: 'The couch is comfortable for sitting upright but too shallow to lie on if you are taller than average. The fabric feels durable and has survived a cat so far. Cushions lose their shape after a few hours and need plumping every evening. Good value, but test one in a shop first if you can.',
  },
  {
    id: '4', upc: '3', authorId: '1', rating: 2,
    body: 'I wanted to like this chair, and it looks lovely in the corner of the study, but after an hour of work my back disagreed. The seat tilts forward a little, so you keep sliding toward the edge. It is fine as an occasional chair for guests; as a desk chair I cannot recommend it at all.',
  },
  {
    id: '5', upc: '4', authorId: '4', rating: 5,
    body: 'A simple lamp that does one thing well. The shade spreads a warm, even light with no hot spot, the switch on the cord is easy to find in the dark, and the weighted base means it has survived two toddlers pulling on the cable. It takes a standard bulb, so replacements are cheap and easy to find.',
  },
  {
    id: '6', upc: '5', authorId: '5', rating: 4,
    body: 'The bookshelf holds far more than its footprint suggests. Each shelf carried a full row of hardbacks without sagging, and the back panel keeps everything square. The instructions skip a step around the wall bracket, so read ahead before you start. Once it is fixed to the wall it feels rock solid.',
  },
  {
    id: '7', upc: '6', authorId: '6', rating: 5,
    body: 'This rug changed the acoustics of our living room more than we expected: the echo is gone and the room feels warmer. The colours are true to the pictures, the edges lie flat after a day or two, and it vacuums well. It sheds a little in the first week, which the seller warns about, then stops.',
  },
  {
    id: '8', upc: '7', authorId: '2', rating: 4,
    body: 'A desk with room for two monitors, a keyboard and still space to write by hand. The cable tray underneath is a thoughtful touch and keeps the mess out of sight. The drawer runners are a little stiff, and the surface shows fingerprints, but for the price this is a very good place to work every day.',
  },
  {
    id: '9', upc: '8', authorId: '3', rating: 3,
    body: 'The mirror itself is clear and free of distortion, which is what matters most. The frame, however, arrived with a small chip in one corner, and the hanging wire feels too thin for the weight. I replaced it with a proper cleat from the hardware shop. Customer service offered a partial refund promptly.',
  },
  {
    id: '10', upc: '9', authorId: '4', rating: 5,
    body: 'We measured twice and it still only just fit under the sloping ceiling, but it did fit, and it swallowed the contents of two smaller cupboards. The doors close softly, the hanging rail is at a sensible height, and the internal shelves can be moved. Allow a full afternoon and a second person for assembly.',
  },
  {
    id: '11', upc: '2', authorId: '5', rating: 4,
    body: 'After a month of daily use the couch has held up well. The cushions soften over time in a good way, the seams are straight, and the removable covers went through a gentle wash without shrinking. It is firmer than the one it replaced, which my back prefers, though the rest of the family took a while to agree.',
  },
];
